#!/usr/bin/env bash
# Installs promtool if it is missing (make lint checks the Prometheus
# configuration, the alert rules and their unit tests with it). Debian ships
# it in the `prometheus` package; the server that comes with it is never
# started: a policy-rc.d that refuses service starts is in place during the
# installation (the machine's own one if it has one, else a temporary one).
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "promtool is missing: run 'sudo apt-get install prometheus' (or this script as root)" >&2
  exit 1
fi
temporary_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  temporary_policy=1
fi
trap '[ -z "$temporary_policy" ] || rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
promtool --version | head -n 1
