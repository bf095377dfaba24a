"""The text a scrape gets: this service's metrics, from every process.

In multi-process mode (gunicorn, Celery prefork) the values of every process
are read from ``PROMETHEUS_MULTIPROC_DIR`` into a fresh registry per scrape
(prometheus_client's documented way: never register the multiprocess
collector in the global registry). Otherwise the process's own registry is
used. The scrape-time collectors (:mod:`.collectors`) are added where asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, exposition, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from opply.common.observability.multiprocess import is_multiprocess


class _ProcessRegistry(Collector):
    """This process's own registry, inside a per-scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    scrape = CollectorRegistry(auto_describe=False)
    if is_multiprocess():
        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape.register(_ProcessRegistry())
    for collector in extra:
        scrape.register(collector)
    return scrape


def render(accept: str | None, *, extra: Iterable[Collector] | None = None) -> tuple[bytes, str]:
    """The exposition body and its content type (OpenMetrics if the scraper asks for it)."""
    from opply.common.observability.collectors import api_collectors

    encoder, content_type = exposition.choose_encoder(accept or "")
    return encoder(registry(api_collectors() if extra is None else extra)), content_type
