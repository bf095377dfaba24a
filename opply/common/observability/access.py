"""Who may read the metrics: the internal network, or a bearer token.

Metrics tell an outsider a lot (routes, traffic, error rates, stock
refusals), so ``/metrics`` and the worker's exporter answer only

* a caller presenting ``Authorization: Bearer <METRICS_BEARER_TOKEN>``
  (when that setting is not empty), or
* a caller whose address is in ``METRICS_ALLOWED_NETWORKS`` (default:
  loopback and the private ranges, where Prometheus, an ADOT collector
  sidecar or a compose network scrape from).

Behind a proxy every request arrives from the proxy's private address, so
the network rule must look at the real client: a request that carries
``X-Forwarded-For`` is judged by the address ``DJANGO_NUM_PROXIES`` trusted
proxies say it came from (as the throttles do), and refused outright when no
proxy is trusted (``DJANGO_NUM_PROXIES=0``: a forwarded request then comes
through a proxy nobody declared). nginx and the AWS load balancer also
refuse ``/metrics`` themselves: the public never reaches it.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_ALLOWED_NETWORKS = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")


@lru_cache(maxsize=8)
def parse_networks(networks: tuple[str, ...]) -> tuple[Network, ...]:
    """``("10.0.0.0/8", ...)`` -> networks; raises ValueError on a malformed entry."""
    return tuple(ipaddress.ip_network(network.strip(), strict=False) for network in networks if network.strip())


def _in_networks(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def client_address(meta: Mapping[str, str], num_proxies: int) -> str | None:
    """The address to judge a request by, or None when it cannot be trusted."""
    remote = meta.get("REMOTE_ADDR", "")
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if forwarded is None:
        return remote
    if num_proxies <= 0:
        return None
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return None
    return hops[-min(num_proxies, len(hops))]


def token_matches(authorization: str | None, token: str) -> bool:
    if not token or not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def allowed(meta: Mapping[str, str], *, token: str, networks: tuple[str, ...], num_proxies: int) -> bool:
    """May this request (its WSGI environ / Django META) read the metrics?"""
    if token_matches(meta.get("HTTP_AUTHORIZATION"), token):
        return True
    parsed = parse_networks(networks)
    if not parsed:
        return False
    address = client_address(meta, num_proxies)
    if address is None:
        return False
    # Through a proxy, the proxy itself must be one of ours too.
    if "HTTP_X_FORWARDED_FOR" in meta and not _in_networks(meta.get("REMOTE_ADDR", ""), parsed):
        return False
    return _in_networks(address, parsed)
