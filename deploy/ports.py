"""Free TCP ports for the deployment checks (smoke run, nginx tests).

``TEST_PORT_RANGE=16100-16199`` confines them to a range (machines where
several people share the loopback interface hand out ranges); otherwise the
operating system picks an ephemeral port.
"""

from __future__ import annotations

import os
import socket


def _bindable(port: int) -> bool:
    # No SO_REUSEADDR: a port still in TIME_WAIT counts as taken, since not
    # every server sets the option.
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, exclude: set[int] | frozenset[int] = frozenset()) -> int:
    """A port nothing listens on now (the caller binds it at once)."""
    spec = os.environ.get("TEST_PORT_RANGE", "")
    if spec:
        low, _, high = spec.partition("-")
        for port in range(int(low), int(high or low) + 1):
            if port not in exclude and _bindable(port):
                return port
        raise RuntimeError(f"no free port in TEST_PORT_RANGE={spec}")
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in exclude:
            return port
