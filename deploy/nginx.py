"""The nginx template (deploy/nginx/templates/default.conf.template), for tests and checks.

The official nginx image renders ``${NGINX_...}`` variables from its
environment (envsubst) into conf.d at start; :func:`render` does the same, so
that the tests run Debian's nginx with the very file compose mounts.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "default.conf.template"
_VARIABLE = re.compile(r"\$\{(NGINX_[A-Z0-9_]+)\}")
_SIZE = re.compile(r"^\s*client_max_body_size\s+(\d+)([kKmM]?)\s*;", re.MULTILINE)
_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


def template_text() -> str:
    return TEMPLATE.read_text()


def variables(text: str | None = None) -> set[str]:
    """The environment variables the template needs."""
    return set(_VARIABLE.findall(template_text() if text is None else text))


def render(values: dict[str, str], text: str | None = None) -> str:
    text = template_text() if text is None else text
    missing = variables(text) - values.keys()
    if missing:
        raise KeyError(f"the nginx template needs {sorted(missing)}")
    return _VARIABLE.sub(lambda match: values[match.group(1)], text)


def body_limit_bytes(text: str | None = None) -> int:
    """client_max_body_size, in bytes."""
    match = _SIZE.search(template_text() if text is None else text)
    if match is None:
        raise ValueError("client_max_body_size is not set in the nginx template")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def main_config(workdir: Path, include: Path, *, user: str | None) -> str:
    """The official image's nginx.conf, with every path inside ``workdir``."""
    return f"""
{f"user {user};" if user else ""}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log notice;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {include};
}}
"""
