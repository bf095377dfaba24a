"""Reading metric values in tests (in-process registry: pytest runs without PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

from prometheus_client import REGISTRY


def value(name: str, **labels: str) -> float:
    """The sample's current value, 0 if it was never set."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """How much samples moved while the block ran: ``with Delta() as d: ...; d("name", label=...)``."""

    def __enter__(self) -> Delta:
        self._before = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in REGISTRY.collect() for s in m.samples}
        return self

    def __exit__(self, *exc: object) -> None:
        self._after = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in REGISTRY.collect() for s in m.samples}

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return self._after.get(key, 0.0) - self._before.get(key, 0.0)
