"""The per-process memo forgets its oldest entry past its bound."""

from opply.common.memo import BoundedMemo


def test_past_its_size_the_oldest_entry_is_forgotten():
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("a", 10)  # an update, not a new entry: nothing is forgotten

    memo.put("c", 3)

    assert (memo.get("a"), memo.get("b"), memo.get("c"), len(memo)) == (None, 2, 3, 2)


def test_a_forgotten_key_is_absent():
    memo: BoundedMemo[str, int] = BoundedMemo(4)
    memo.put("a", 1)

    memo.forget("a")
    memo.forget("never there")

    assert (memo.get("a"), len(memo)) == (None, 0)
