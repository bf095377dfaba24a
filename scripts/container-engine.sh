#!/usr/bin/env bash
# Makes a Debian machine without Docker and without access to any image
# registry able to build and run the API image (make smoke, CI):
#
# - installs podman (with runc: crun refuses hybrid cgroup v1/v2 hosts) and
#   debootstrap from Debian's packages;
# - writes the engine settings such hosts need;
# - builds localhost/python:3.11-slim-bookworm, a stand-in for the public
#   python:3.11-slim, from Debian bookworm's packages (Debian's Python 3.11 in
#   /usr/bin; like python:3.11-slim it has no curl and no libpq).
#
#   scripts/container-engine.sh
#   make smoke PYTHON_IMAGE=localhost/python:3.11-slim-bookworm
#
# Idempotent: a few minutes the first time, seconds afterwards. Must run as root.
# The project's own copy of the machine tool ../shared/tools/container-engine.sh,
# so that CI depends on nothing outside the repository; it builds the same image.
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-localhost/python:3.11-slim-bookworm}

if [ "$(id -u)" != 0 ]; then
  echo "container-engine.sh installs packages and writes /etc/containers: run it as root" >&2
  exit 1
fi

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p /etc/containers
cat > /etc/containers/containers.conf <<'CONF'
[containers]
# this kind of host refuses to raise RLIMIT_NOFILE inside a container
default_ulimits = []
[engine]
# crun refuses hybrid cgroup v1/v2 hosts; runc works
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF

if ! podman image exists "$BASE_IMAGE"; then
  # The Debian mirror apt already uses on this machine.
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -E '^(URIs:|deb) ' | grep -oE 'https?://[^ ]+/debian/?$' | head -n1 || true)
  if [ -z "$mirror" ]; then
    echo "no Debian mirror in apt's sources: cannot build $BASE_IMAGE" >&2
    exit 1
  fi
  root=$(mktemp -d /tmp/rootfs.XXXX)
  trap 'rm -rf "$root"' EXIT
  echo "building $BASE_IMAGE from $mirror (a few minutes)"
  if ! debootstrap --variant=minbase \
      --include=python3.11,python3.11-venv,python3-distutils,python-is-python3,ca-certificates \
      bookworm "$root" "$mirror" >/tmp/debootstrap.log 2>&1; then
    echo "debootstrap failed: see /tmp/debootstrap.log" >&2
    exit 1
  fi
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  # Trust what this machine trusts (its package traffic may pass a TLS proxy with its own CA).
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$root" update-ca-certificates >/dev/null
  tar -C "$root" -c . | podman import --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
fi

podman run --rm "$BASE_IMAGE" python3 -c 'import sys; print("container engine ready: Python", sys.version.split()[0])'
