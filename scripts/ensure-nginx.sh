#!/usr/bin/env bash
# Installs Debian's nginx if it is missing (the nginx tests run a real one in
# front of the app). Never starts it: the package would start a server on
# port 80, so a policy-rc.d that refuses service starts is in place during the
# installation (the machine's own one if it has one, else a temporary one).
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "nginx is missing: run 'sudo apt-get install nginx' (or this script as root)" >&2
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
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
/usr/sbin/nginx -v
