"""A real nginx (Debian's) with compose's template, in front of the real app (gunicorn).

What compose and a careful operator rely on: the configuration passes
``nginx -t``; client addresses reach the app's throttles through
X-Forwarded-For; static files are served and cached; limits are nginx's and
match the app's; and whatever nginx answers by itself (413, 414, 431, 400,
502, 504) is problem+json like the app's errors, never an HTML page.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from deploy import nginx
from deploy.ports import free_port
from deploy.tests.conftest import SEED_PASSWORD, Proxy, render_config

ROOT = Path(__file__).resolve().parents[2]
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code", "request_id"}


def assert_problem(response, body: bytes, status: int, code: str) -> dict:
    """nginx's own error, in the app's RFC 9457 shape (opply.common.errors.problem)."""
    assert response.status == status, body[:500]
    assert response.getheader("Content-Type") == "application/problem+json", response.getheaders()
    problem = json.loads(body)
    assert problem.keys() >= PROBLEM_MEMBERS, problem
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"urn:opply:problem:{code}"
    assert problem["title"] == HTTPStatus(status).phrase
    assert problem["request_id"] == response.getheader("X-Request-ID")
    return problem


def login(proxy: Proxy, username: str, password: str, source: str = "127.0.0.1", **headers: str):
    body = json.dumps({"username": username, "password": password}).encode()
    return proxy.request("POST", "/api/identity/token/", body=body, headers={"Content-Type": "application/json", **headers}, source=source)


# --- configuration -------------------------------------------------------------------


def test_the_compose_configuration_passes_nginx_t(nginx_binary, tmp_path):
    """Rendered with the values compose.yaml gives the nginx service (the cache path aside)."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    values = {name: str(value) for name, value in compose["services"]["nginx"]["environment"].items() if name.startswith("NGINX_")}
    values["NGINX_LOCAL_RESOLVERS"] = "127.0.0.11"  # what the image's entrypoint finds in Docker's resolv.conf
    values["NGINX_CACHE_DIR"] = str(tmp_path / "cache")
    assert nginx.variables() <= values.keys(), f"compose.yaml does not set {nginx.variables() - values.keys()}"
    config = render_config(tmp_path, values)

    result = subprocess.run([nginx_binary, "-t", "-p", str(tmp_path), "-c", str(config)], capture_output=True, text=True, timeout=30)  # noqa: S603

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_body_limit_is_the_apps():
    """nginx refuses exactly what Django would refuse, and says how much it accepts."""
    limit = nginx.body_limit_bytes()

    assert limit == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert f'"max_bytes":{limit}' in nginx.template_text()


# --- proxying ------------------------------------------------------------------------


def test_requests_reach_the_app_with_one_request_id(proxy):
    response, body = proxy.request("GET", "/health/ready/", headers={"X-Request-ID": "client-id-123"})

    assert response.status == 200, body
    # No Celery worker runs here: the worker is reported degraded, the primary ok.
    assert json.loads(body)["checks"]["primary"] == "ok"
    assert response.getheader("X-Request-ID") == "client-id-123"
    assert response.getheader("Server") == "nginx"  # no version


def test_metrics_never_leave_the_proxy(proxy):
    """The app would serve loopback (nginx's own address here): nginx refuses first."""
    for path in ("/metrics", "//metrics", "/%6detrics", "/metrics?format=text"):
        response, body = proxy.request("GET", path)
        assert response.status == 404, (path, body)
        assert response.getheader("Content-Type") == "application/problem+json"
        assert json.loads(body)["code"] == "not_found"
        assert b"opply_" not in body


def test_an_unsafe_request_id_is_replaced_by_nginxs_own(proxy):
    response, _ = proxy.request("GET", "/health/live/", headers={"X-Request-ID": "<script>" + "x" * 100})

    assert re.fullmatch(r"[0-9a-f]{32}", response.getheader("X-Request-ID"))


def test_the_apps_own_errors_pass_through_untouched(proxy):
    response, body = proxy.request("GET", "/api/no-such-thing/")

    problem = json.loads(body)
    assert response.status == 404
    assert problem["code"] == "not_found"
    assert problem["detail"] == "No resource lives at this address."  # the app's words, not nginx's


def _wait_out_the_window_edge(margin: float = 20) -> None:
    """The login limit counts per clock hour: never start a count just before the hour turns."""
    remaining = 3600 - time.time() % 3600
    if remaining < margin:
        time.sleep(remaining + 1)


def test_client_addresses_reach_the_throttle_through_x_forwarded_for(proxy):
    """4 logins per hour per client IP (app_server's setting), counted per real client, not per nginx.

    Each source address of 127.0.0.0/8 is a different client for nginx. If the app
    saw nginx's address (no forwarding, or DJANGO_NUM_PROXIES=0), every client
    would share one bucket; if it trusted the first X-Forwarded-For entry, a
    client could pick a fresh address per request.
    """
    _wait_out_the_window_edge()
    for attempt in range(4):
        response, body = login(proxy, f"nobody-{attempt}", "wrong-password", source="127.0.0.2")
        assert response.status == 401, body

    response, body = login(proxy, "nobody-5", "wrong-password", source="127.0.0.2")
    assert response.status == 429, body
    assert response.getheader("Retry-After")

    response, body = login(proxy, "nobody-6", "wrong-password", source="127.0.0.2", **{"X-Forwarded-For": "203.0.113.7"})
    assert response.status == 429, "a forged X-Forwarded-For must not buy a fresh limit"

    response, body = login(proxy, "nobody-7", "wrong-password", source="127.0.0.3")
    assert response.status == 401, "another client has its own limit"
    response, body = login(proxy, "opply", SEED_PASSWORD, source="127.0.0.4")
    assert response.status == 200, body


def test_the_scheme_is_nginxs_not_the_clients_claim(proxy):
    """A client cannot make the app believe it came over HTTPS (secure cookies, redirects, links)."""
    response, body = login(proxy, "opply", SEED_PASSWORD, source="127.0.0.5")
    token = json.loads(body)["access"]

    response, body = proxy.request(
        "GET",
        "/api/catalog/products/?page_size=1",
        headers={"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"},
        source="127.0.0.5",
    )

    assert response.status == 200, body
    assert json.loads(body)["next"].startswith("http://localhost/api/catalog/products/?"), body


# --- static files --------------------------------------------------------------------


def test_static_files_are_served_and_cached_by_nginx(proxy):
    manifest = json.loads((ROOT / "staticfiles" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]

    first, body = proxy.request("GET", f"/static/{hashed}")
    second, _ = proxy.request("GET", f"/static/{hashed}")

    assert first.status == 200 and first.getheader("Content-Type").startswith("text/css")
    assert b"body" in body
    assert "immutable" in first.getheader("Cache-Control")
    assert (first.getheader("X-Cache-Status"), second.getheader("X-Cache-Status")) == ("MISS", "HIT")


# --- limits: nginx answers, in problem+json ------------------------------------------------


def test_an_oversized_body_is_refused_by_nginx(proxy, app_server):
    limit = nginx.body_limit_bytes()
    too_big = b"x" * (limit + 1)

    response, body = proxy.request("POST", "/api/identity/token/?oversized", body=too_big, headers={"Content-Type": "application/json"})

    problem = assert_problem(response, body, 413, "request_too_large")
    assert problem["max_bytes"] == limit
    assert "?oversized" not in app_server.log.read_text(), "the body must never reach the app"


def test_a_body_at_the_limit_reaches_the_app(proxy):
    response, body = proxy.request(
        "POST", "/api/identity/token/", body=b"x" * nginx.body_limit_bytes(), headers={"Content-Type": "application/json"}
    )

    problem = json.loads(body)
    assert response.status == 400, body[:300]
    assert problem["code"] != "request_too_large"  # the app's answer (malformed JSON), not nginx's


def test_a_long_request_line_is_414(proxy):
    response, body = proxy.request("GET", "/api/catalog/products/?search=" + "a" * 5000)

    assert_problem(response, body, 414, "uri_too_long")


def test_a_huge_header_is_431(proxy):
    response, body = proxy.request("GET", "/health/live/", headers={"X-Padding": "p" * 5000})

    assert_problem(response, body, 431, "headers_too_large")


def test_too_many_header_bytes_together_are_431(proxy):
    headers = {f"X-Padding-{index}": "p" * 3000 for index in range(8)}

    response, body = proxy.request("GET", "/health/live/", headers=headers)

    assert_problem(response, body, 431, "headers_too_large")


@pytest.mark.parametrize("size", [1000, 3500, 4000, 4060, 4090, 4100, 6000, 9000])
def test_whatever_the_url_length_the_answer_is_json(proxy, size):
    """Near the limit, nginx and gunicorn must agree: the client never meets gunicorn's HTML page."""
    response, body = proxy.request("GET", "/api/nothing/" + "a" * size)

    assert response.status in (404, 414), body[:300]
    assert response.getheader("Content-Type") == "application/problem+json", body[:300]


@pytest.mark.parametrize("size", [1000, 4000, 4080, 4200, 8000, 8190, 9000])
def test_whatever_the_header_length_the_answer_is_json(proxy, size):
    response, body = proxy.request("GET", "/api/nothing/", headers={"X-Padding": "p" * size})

    assert response.status in (404, 431), body[:300]
    assert response.getheader("Content-Type") == "application/problem+json", body[:300]


def test_a_malformed_request_is_400(proxy):
    raw = proxy.raw(b"THIS IS NOT HTTP\r\n\r\n")

    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), raw[:300]
    assert b"Content-Type: application/problem+json" in head
    problem = json.loads(body)
    assert (problem["status"], problem["code"], problem["title"]) == (400, "bad_request", "Bad Request")


# --- the app down or too slow ---------------------------------------------------------------


class _StaticOnly(BaseHTTPRequestHandler):
    """A stand-in app: one static file, cacheable for a second."""

    def do_GET(self) -> None:
        body = b"body { color: black }"
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.send_header("Cache-Control", "max-age=1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_app_down_is_502_and_cached_static_files_are_still_served(start_proxy):
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _StaticOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy = start_proxy(f"127.0.0.1:{server.server_address[1]}")
    response, _ = proxy.request("GET", "/static/app.css")
    assert response.status == 200
    server.shutdown()
    server.server_close()
    time.sleep(1.5)  # the cached copy is stale now

    response, body = proxy.request("GET", "/api/catalog/products/")
    problem = assert_problem(response, body, 502, "upstream_unavailable")
    assert response.getheader("Retry-After") == "5"
    assert problem["detail"]

    response, body = proxy.request("GET", "/static/app.css")
    assert (response.status, response.getheader("X-Cache-Status"), body) == (200, "STALE", b"body { color: black }")


@pytest.fixture
def silent_upstream() -> Iterator[int]:
    """Accepts connections and never answers: an app stuck in a request."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", free_port()))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stopped = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stopped.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stopped.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_app_too_slow_is_504(start_proxy, silent_upstream):
    proxy = start_proxy(f"127.0.0.1:{silent_upstream}", read_timeout="1s")

    response, body = proxy.request("GET", "/api/catalog/products/")

    assert_problem(response, body, 504, "upstream_timeout")
    assert response.getheader("Retry-After") == "5"
