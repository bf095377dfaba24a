"""Amazon ECS: the task's own private addresses, for ALLOWED_HOSTS.

An Application Load Balancer health-checks each Fargate task at its private
IP address and sends that address as the Host header. Django would answer
those checks 400 (DisallowedHost) and the load balancer would take every task
out of service. Inside ECS, the agent publishes the task's metadata at
``ECS_CONTAINER_METADATA_URI_V4`` (a link-local address); production settings
add the task's addresses to ALLOWED_HOSTS. Outside ECS the variable is unset
and nothing is added. The API's own domain still has to be in
DJANGO_ALLOWED_HOSTS: this only lets the health checks in.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

METADATA_VARIABLE = "ECS_CONTAINER_METADATA_URI_V4"


def task_private_ips(timeout: float = 2.0) -> list[str]:
    """The IPv4 addresses of this ECS task (awsvpc networking), or [] outside ECS."""
    uri = os.environ.get(METADATA_VARIABLE, "")
    if not uri:
        return []
    if not uri.startswith("http://"):
        raise ValueError(f"{METADATA_VARIABLE} must be an http:// URL, got {uri!r}")
    try:
        with urllib.request.urlopen(uri, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            metadata = json.load(response)
    except (OSError, ValueError) as exc:
        # Logging is not configured while settings load. The task still starts;
        # its load balancer health checks will fail and say why in the ALB.
        print(f"ECS task metadata unavailable ({exc}): health checks by IP will be refused", file=sys.stderr)
        return []
    return [address for network in metadata.get("Networks", []) for address in network.get("IPv4Addresses", [])]
