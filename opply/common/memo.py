"""A small per-process memo for work a hot path repeats on equal input.

A client repeats itself: the same access token on every request for its
lifetime, the same list URL page after page. Where the answer is a pure
function of such text, each process keeps the last answers in a bounded
map: past ``size`` entries the oldest is forgotten (and simply computed again
if it comes back), so hostile input can cost memory only up to the bound.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()  # gthread workers share it

    def get(self, key: K) -> V | None:
        return self._values.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if key not in self._values and len(self._values) >= self.size:
                # Insertion order: the first key is the oldest.
                self._values.pop(next(iter(self._values)), None)
            self._values[key] = value

    def forget(self, key: K) -> None:
        with self._lock:
            self._values.pop(key, None)

    def __len__(self) -> int:
        return len(self._values)
