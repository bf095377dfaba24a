"""Build the API image and run it for real (``make smoke``).

    make smoke                                            # FROM python:3.11-slim
    make smoke PYTHON_IMAGE=localhost/python:3.11-slim-bookworm

Works with podman or docker (``CONTAINER_ENGINE``; default: podman if it is
installed, else docker). The containers share the host's network and use the
services ``make test`` uses (DATABASE_URL's server, TEST_REDIS_URL,
CELERY_BROKER_URL) on their own database (``<name>_smoke``, created and
dropped here), Redis database (flushed) and Celery queue. They run hardened
as compose runs them: read-only root file system, every capability dropped,
no privilege escalation.

Every step must pass; the first failure stops the run with the container's
logs. Whatever happens, the containers, the database, the Redis data and the
queue are removed at the end (the image is kept: rebuilds are cached).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import environ
import redis
import yaml
from kombu import Connection

from deploy.ports import free_port
from deploy.scratch import DEFAULT_DATABASE_URL, create_database, drop_database, read_env, sibling_database_url

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
IMAGE_MAX_BYTES = 250 * 1000 * 1000
STAFF_USERNAME = "smoke-staff"


class SmokeFailure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


# --- the container engine --------------------------------------------------------


def pick_engine() -> str:
    engine = os.environ.get("CONTAINER_ENGINE") or shutil.which("podman") or shutil.which("docker")
    if not engine:
        raise SmokeFailure("no container engine: install podman (scripts/container-engine.sh) or Docker, or set CONTAINER_ENGINE")
    probe = subprocess.run([engine, "info"], capture_output=True, text=True, check=False)  # noqa: S603
    if probe.returncode != 0:
        raise SmokeFailure(f"{engine} does not work here ({probe.stderr.strip()[-300:]}): run scripts/container-engine.sh or start Docker")
    return Path(engine).name


@dataclass
class Engine:
    name: str
    image: str
    common: list[str]
    containers: list[str] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.name, *args], capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603

    def oneshot(self, *command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``docker run --rm IMAGE <command>`` with the app's environment."""
        return self.run("run", "--rm", *self.common, *env_args(env or {}), self.image, *command)

    def start(self, role: str, *command: str, env: dict[str, str] | None = None) -> str:
        name = f"opply-smoke-{role}-{uuid.uuid4().hex[:6]}"
        # An anonymous volume on the image's one writable directory, as compose mounts a named one there.
        result = self.run(
            "run", "--detach", "--name", name, "--volume", "/var/lib/opply", *self.common, *env_args(env or {}), self.image, *command
        )
        check(result.returncode == 0, f"{role} did not start: {result.stderr.strip()}")
        self.containers.append(name)
        return name

    def running(self, name: str) -> bool:
        return self.run("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"

    def logs(self, name: str) -> str:
        result = self.run("logs", name)
        return result.stdout + result.stderr

    def remove_all(self) -> None:
        for name in self.containers:
            self.run("rm", "--force", "--volumes", name, timeout=60)
        self.containers.clear()


def image_healthcheck(inspected: dict[str, Any]) -> dict[str, Any]:
    """The HEALTHCHECK of an inspected image: docker keeps it in Config, podman at the top level."""
    return inspected.get("Config", {}).get("Healthcheck") or inspected.get("Healthcheck") or {}


def env_args(env: dict[str, str]) -> list[str]:
    return [argument for name, value in env.items() for argument in ("--env", f"{name}={value}")]


# --- the run ---------------------------------------------------------------------


@dataclass
class Context:
    engine: Engine
    port: int
    database_url: str
    redis_url: str
    broker_url: str
    queue: str
    staff_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    api: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    product: dict[str, Any] = field(default_factory=dict)


class Steps:
    def __init__(self) -> None:
        self.done: list[tuple[str, float]] = []

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        print(f"smoke: {title} ...", flush=True)
        started = time.monotonic()
        yield
        elapsed = time.monotonic() - started
        self.done.append((title, elapsed))
        print(f"smoke: ok   {title} ({elapsed:.1f} s)", flush=True)


def http(
    ctx: Context,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    https: bool = True,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request to the API container, as a TLS-terminating load balancer would forward it."""
    request_headers = {"Host": "localhost", "Accept": "application/json", **(headers or {})}
    if https:
        request_headers["X-Forwarded-Proto"] = "https"
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request_headers["Content-Type"] = "application/json"
    request = urllib.request.Request(f"http://127.0.0.1:{ctx.port}{path}", data=data, method=method, headers=request_headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=15) as response:
            status, response_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, response_headers, raw = error.code, dict(error.headers), error.read()
    content_type = response_headers.get("Content-Type", "")
    if not (raw and "json" in content_type):
        return status, response_headers, raw
    try:
        return status, response_headers, json.loads(raw)
    except ValueError:
        raise SmokeFailure(f"{method} {path}: {status} with a {content_type} body that is not JSON: {raw[:300]!r}") from None


def app_env(ctx: Context) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "DJANGO_NUM_PROXIES": "1",
        "DATABASE_URL": ctx.database_url,
        "REDIS_URL": ctx.redis_url,
        "CELERY_BROKER_URL": ctx.broker_url,
        "CELERY_QUEUE": ctx.queue,
        "PORT": str(ctx.port),
        "WEB_CONCURRENCY": "2",
        "CART_SWEEP_SECONDS": "1",
    }


def build(steps: Steps, engine: Engine, python_image: str) -> None:
    with steps.step(f"build {engine.image} FROM {python_image}"):
        args = ["build", "--build-arg", f"PYTHON_IMAGE={python_image}", "--tag", engine.image]
        if engine.name == "podman":
            args += ["--format", "docker"]  # OCI images have no HEALTHCHECK
        log = ROOT / "bench" / "results"  # git-ignored
        log.mkdir(parents=True, exist_ok=True)
        result = engine.run(*args, str(ROOT), timeout=1800)
        (log / "smoke-build.log").write_text(result.stdout + result.stderr)
        check(result.returncode == 0, f"build failed:\n{(result.stdout + result.stderr)[-3000:]}")

    with steps.step("image: size, user, environment, health check"):
        inspected = json.loads(engine.run("image", "inspect", engine.image).stdout)[0]
        size = int(inspected["Size"])
        print(f"smoke:      image size {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB), limit {IMAGE_MAX_BYTES / 1e6:.0f} MB")
        check(size < IMAGE_MAX_BYTES, f"the image is {size / 1e6:.1f} MB, over {IMAGE_MAX_BYTES / 1e6:.0f} MB")
        config = inspected["Config"]
        check(config.get("User") not in (None, "", "root", "0", "0:0"), f"the image runs as {config.get('User')!r}")
        variables = dict(item.split("=", 1) for item in config.get("Env", []))
        check(variables.get("PYTHONDONTWRITEBYTECODE") == "1" and variables.get("PYTHONUNBUFFERED") == "1", "PYTHON* variables missing")
        leaked = [name for name in variables if "SECRET" in name or "PASSWORD" in name]
        check(not leaked, f"the image's environment carries {leaked}")
        healthcheck = image_healthcheck(inspected)
        check("/app/deploy/docker/healthcheck.py" in " ".join(healthcheck.get("Test", [])), f"no HEALTHCHECK: {healthcheck}")
        whoami = engine.run("run", "--rm", engine.image, "id", "-u")
        check(whoami.stdout.strip() not in ("", "0"), f"the container runs as uid {whoami.stdout.strip()!r}")


def database_steps(steps: Steps, ctx: Context, env: dict[str, str]) -> None:
    engine = ctx.engine
    with steps.step("production settings refuse to start without a secret key"):
        bare = {name: value for name, value in env.items() if name != "DJANGO_SECRET_KEY"}
        result = engine.oneshot("python", "manage.py", "check", env=bare)
        check(
            result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr,
            f"check without a secret: {result.returncode} {result.stderr[-500:]}",
        )

    with steps.step("manage.py check --deploy (production)"):
        result = engine.oneshot("python", "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)
        check(result.returncode == 0, f"check --deploy failed:\n{result.stdout}{result.stderr}")

    with steps.step("migrate (one-off container)"):
        result = engine.oneshot("python", "manage.py", "migrate", "--noinput", env=env)
        check(result.returncode == 0, f"migrate failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    with steps.step("seed is refused under production settings"):
        result = engine.oneshot("python", "manage.py", "seed", env=env)
        check(result.returncode != 0 and "Refusing" in result.stderr, f"seed under production: {result.returncode} {result.stderr[-500:]}")

    with steps.step("first staff user: createsuperuser --noinput"):
        staff_env = {
            **env,
            "DJANGO_SUPERUSER_USERNAME": STAFF_USERNAME,
            "DJANGO_SUPERUSER_EMAIL": "smoke-staff@example.com",
            "DJANGO_SUPERUSER_PASSWORD": ctx.staff_password,
        }
        result = engine.oneshot("python", "manage.py", "createsuperuser", "--noinput", env=staff_env)
        check(result.returncode == 0, f"createsuperuser failed:\n{result.stderr[-1000:]}")


def serve_steps(steps: Steps, ctx: Context, env: dict[str, str]) -> None:
    engine = ctx.engine
    with steps.step(f"serve: the image's default command (gunicorn) on port {ctx.port}"):
        ctx.api = engine.start("api", env=env)
        deadline = time.monotonic() + 90
        while True:
            check(engine.running(ctx.api), f"the API container stopped:\n{engine.logs(ctx.api)[-3000:]}")
            try:
                status, _, _ = http(ctx, "GET", "/health/live/")
            except OSError:
                status = 0
            if status == 200:
                break
            check(time.monotonic() < deadline, f"/health/live/ never answered 200:\n{engine.logs(ctx.api)[-3000:]}")
            time.sleep(0.5)

    with steps.step("the image's HEALTHCHECK command passes in the running container"):
        test = image_healthcheck(json.loads(engine.run("image", "inspect", engine.image).stdout)[0])["Test"]
        command = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
        result = engine.run("exec", ctx.api, *command)
        check(result.returncode == 0, f"health check failed: {result.stdout}{result.stderr}")

    with steps.step("GET /health/ready/ -> 200 (primary, replica, Redis, broker)"):
        status, _, body = http(ctx, "GET", "/health/ready/")
        check(status == 200, f"/health/ready/ answered {status}: {body}")
        print(f"smoke:      {body}")

    with steps.step("production is live: plain HTTP is redirected to HTTPS"):
        status, headers, _ = http(ctx, "GET", "/api/catalog/products/", https=False)
        check(status == 301 and headers.get("Location", "").startswith("https://"), f"HTTP answered {status} {headers.get('Location')}")

    with steps.step("static files collected at build time, served by WhiteNoise; docs"):
        status, headers, _ = http(ctx, "GET", "/static/admin/css/base.css")
        check(status == 200 and headers.get("Content-Type", "").startswith("text/css"), f"static: {status} {headers}")
        status, headers, _ = http(ctx, "GET", "/api/docs/", headers={"Accept": "text/html"})
        check(status == 200 and headers.get("Content-Type", "").startswith("text/html"), f"/api/docs/ answered {status} {headers}")
        status, _, _ = http(ctx, "GET", "/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
        check(status == 200, f"/api/schema/ answered {status}")


def api_steps(steps: Steps, ctx: Context) -> None:
    with steps.step("staff: log in, create a category and a product with 10 in stock"):
        status, _, body = http(ctx, "POST", "/api/identity/token/", {"username": STAFF_USERNAME, "password": ctx.staff_password})
        check(status == 200 and "access" in body, f"staff login: {status} {body}")
        staff = body["access"]
        suffix = uuid.uuid4().hex[:8]
        status, _, category = http(ctx, "POST", "/api/catalog/categories/", {"name": "Smoke", "slug": f"smoke-{suffix}"}, token=staff)
        check(status == 201, f"category: {status} {category}")
        product_body = {
            "name": "Smoke oat milk",
            "sku": f"SMOKE-{suffix}",
            "price": "2.40",
            "category": category["id"],
            "quantity_in_stock": 10,
        }
        status, _, product = http(ctx, "POST", "/api/catalog/products/", product_body, token=staff)
        check(status == 201, f"product: {status} {product}")
        ctx.product = product

    with steps.step("customer: register, log in"):
        password = secrets.token_urlsafe(16)
        registration = {"username": f"smoke-{uuid.uuid4().hex[:8]}", "password": password, "email": f"{uuid.uuid4().hex[:8]}@example.com"}
        status, _, body = http(ctx, "POST", "/api/identity/register/", registration)
        check(status == 201 and body.get("username") == registration["username"], f"register: {status} {body}")
        status, _, body = http(ctx, "POST", "/api/identity/token/", {"username": registration["username"], "password": password})
        check(status == 200 and "access" in body and "refresh" in body, f"login: {status} {body}")
        ctx.tokens = body

    with steps.step("customer: list products (the new one, 10 available)"):
        status, _, body = http(ctx, "GET", "/api/catalog/products/?search=Smoke&page_size=100", token=ctx.tokens["access"])
        check(status == 200, f"list: {status} {body}")
        listed = {item["id"]: item for item in body["results"]}
        check(listed.get(ctx.product["id"], {}).get("quantity_in_stock") == 10, f"product not listed with 10: {body}")

    with steps.step("customer: place an order (Idempotency-Key), replay it, see it in history"):
        order_body = {"items": [{"product_id": ctx.product["id"], "quantity": 2}]}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        status, _, order = http(ctx, "POST", "/api/orders/orders/", order_body, token=ctx.tokens["access"], headers=key)
        check(status == 201 and order["status"] == "confirmed" and order["total"] == "4.80", f"order: {status} {order}")
        status, headers, replay = http(ctx, "POST", "/api/orders/orders/", order_body, token=ctx.tokens["access"], headers=key)
        check(status == 201 and replay["id"] == order["id"] and headers.get("Idempotent-Replayed") == "true", f"replay: {status} {replay}")
        status, _, history = http(ctx, "GET", "/api/orders/orders/", token=ctx.tokens["access"])
        check(status == 200 and [item["id"] for item in history["results"]] == [order["id"]], f"history: {status} {history}")
        status, _, product = http(ctx, "GET", f"/api/catalog/products/{ctx.product['id']}/", token=ctx.tokens["access"])
        check(status == 200 and product["quantity_in_stock"] == 8, f"stock after the order: {status} {product}")
        print(f"smoke:      order {order['id']} {order['status']} total {order['total']}; stock 10 -> 8")


def compose_service(role: str) -> dict[str, Any]:
    """A service of compose.yaml, with Compose's ``$$`` escapes undone (what the container gets)."""
    service = yaml.safe_load(COMPOSE.read_text())["services"][role]

    def unescape(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("$$", "$")
        if isinstance(value, list):
            return [unescape(item) for item in value]
        if isinstance(value, dict):
            return {key: unescape(item) for key, item in value.items()}
        return value

    return unescape(service)


def health_command(test: list[str]) -> list[str]:
    """A compose/Docker health check test as a command to exec."""
    kind, *rest = test
    return rest if kind == "CMD" else ["sh", "-c", rest[0]]


def worker_steps(steps: Steps, ctx: Context, env: dict[str, str]) -> None:
    """The worker and beat as compose.yaml runs them, and compose's health checks inside them."""
    engine = ctx.engine
    # A node name of its own: the shared broker may have other workers named celery@<this host>.
    node = f"smoke-{uuid.uuid4().hex[:8]}@localhost"
    worker_service, beat_service, api_service = compose_service("worker"), compose_service("beat"), compose_service("api")
    with steps.step("worker and beat containers, with compose.yaml's commands"):
        worker = engine.start("worker", *worker_service["command"], "--hostname", node, env=env)
        beat = engine.start("beat", *beat_service["command"], env=env)
        ping = ["celery", "-A", "config", "inspect", "ping", "--timeout", "5", "--destination", node]
        wait_for(
            lambda: engine.oneshot(*ping, env=env).returncode == 0,
            90,
            lambda: f"the worker never answered a ping:\n{engine.logs(worker)[-3000:]}",
        )
        sweeper = "opply.catalog.tasks.release_expired_holds"
        wait_for(
            lambda: f"Task {sweeper}[" in engine.logs(worker) and "succeeded" in engine.logs(worker),
            60,
            lambda: f"beat's sweeper never reached the worker:\nbeat:\n{engine.logs(beat)[-2000:]}\nworker:\n{engine.logs(worker)[-2000:]}",
        )
        check(engine.running(beat), f"beat stopped:\n{engine.logs(beat)[-2000:]}")

    with steps.step("compose.yaml's health checks pass inside the api and beat containers"):
        for container, service in ((ctx.api, api_service), (beat, beat_service)):
            result = engine.run("exec", container, *health_command(service["healthcheck"]["test"]))
            check(result.returncode == 0, f"{container}: {service['healthcheck']['test']} failed: {result.stdout}{result.stderr}")


def wait_for(condition: Callable[[], bool], seconds: float, explain: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        check(time.monotonic() < deadline, explain())
        time.sleep(1)


# --- the host's services -----------------------------------------------------------


def services(env: environ.Env, port: int, engine: Engine) -> Context:
    return Context(
        engine=engine,
        port=port,
        database_url=sibling_database_url(env.str("DATABASE_URL", default=DEFAULT_DATABASE_URL), "smoke"),
        redis_url=env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15"),
        broker_url=env.str("CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//"),
        queue=f"{env.str('CELERY_QUEUE', default='opply')}-smoke",
    )


def reset_services(ctx: Context, *, create: bool) -> None:
    if create:
        create_database(ctx.database_url)
    else:
        drop_database(ctx.database_url)
    redis.Redis.from_url(ctx.redis_url).flushdb()
    with Connection(ctx.broker_url, connect_timeout=5) as broker:
        # Deleting a queue that does not exist is not an error in AMQP 0-9-1.
        # The worker's task queue, and the fulfilment queues its consumer
        # derives from that name (settings FULFILMENT_QUEUE).
        for queue in (ctx.queue, f"{ctx.queue}.fulfilment", f"{ctx.queue}.fulfilment.dead"):
            broker.default_channel.queue_delete(queue)
        # And the direct exchange Celery declares named after its task queue.
        broker.default_channel.exchange_delete(ctx.queue)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python-image", default=os.environ.get("PYTHON_IMAGE", "python:3.11-slim"))
    parser.add_argument("--image", default=os.environ.get("IMAGE", "opply-api:smoke"))
    args = parser.parse_args()

    env = read_env()
    steps = Steps()
    started = time.monotonic()
    ctx: Context | None = None
    try:
        engine_name = pick_engine()
        engine = Engine(
            name=engine_name,
            image=args.image,
            # Hardened as compose runs it; /tmp is a private tmpfs inside the container.
            common=["--network", "host", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"],  # noqa: S108
        )
        print(f"smoke: engine {engine_name}, base image {args.python_image}")
        port = int(os.environ.get("SMOKE_PORT") or free_port())
        ctx = services(env, port, engine)
        build(steps, engine, args.python_image)
        reset_services(ctx, create=True)
        app = app_env(ctx)
        database_steps(steps, ctx, app)
        serve_steps(steps, ctx, app)
        api_steps(steps, ctx)
        worker_steps(steps, ctx, app)
    except (SmokeFailure, subprocess.TimeoutExpired, OSError) as failure:
        print(f"\nsmoke: FAILED: {failure}", file=sys.stderr)
        if ctx and ctx.api:
            print(f"--- API container logs ---\n{ctx.engine.logs(ctx.api)[-4000:]}", file=sys.stderr)
        return 1
    finally:
        if ctx is not None:
            ctx.engine.remove_all()
            try:
                reset_services(ctx, create=False)
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the result
                print(f"smoke: cleanup: {exc}", file=sys.stderr)
    print(f"\nsmoke: passed {len(steps.done)} steps in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
