"""Container health check: the image's HEALTHCHECK and the ECS task's.

GET /health/live/ on this container's own gunicorn (no I/O in the app: it
says the process serves requests; readiness is the load balancer's business).
Python, not curl: the slim base image has no curl. The Host header is the
first entry of DJANGO_ALLOWED_HOSTS, so that production's host validation
accepts the probe whatever the deployment's domain is. Exit 0 = healthy.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe_host() -> str:
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health/live/"
    request = urllib.request.Request(url, headers={"Host": probe_host()})
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (OSError, urllib.error.URLError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
