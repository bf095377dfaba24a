"""``make fuzz``: schemathesis over the whole OpenAPI schema, as a customer and as staff.

What it does, all on loopback and bounded in time:

1. a database of its own (``<DATABASE_URL name>_fuzz``, emptied first) on the
   test settings, with the demo catalog (``manage.py seed``), and the test
   Redis database (``TEST_REDIS_URL``, flushed: do not run it next to
   ``make test``);
2. gunicorn (``config/gunicorn.py``) on a free port of 127.0.0.1;
3. a customer (registered through the API) and the seeded staff user get a
   token each;
4. ``st run`` once per role with every check, the examples, coverage,
   fuzzing and stateful phases, ``FUZZ_MAX_EXAMPLES`` cases per operation and
   ``FUZZ_MAX_TIME`` seconds per role at most;
5. gunicorn is stopped, the counts printed; the exit status is non-zero if
   schemathesis found anything.

Reports (JUnit, NDJSON) and the server log land in ``.run/fuzz/``.
Never part of ``make test``; CI does not run it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import environ

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".run" / "fuzz"
FUZZ_BIN = ROOT / os.environ.get("FUZZ_VENV", ".venv-fuzz") / "bin" / "st"
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "30")
MAX_TIME = os.environ.get("FUZZ_MAX_TIME", "300")
WORKERS = os.environ.get("FUZZ_WORKERS", "2")
SEED = os.environ.get("FUZZ_SEED", "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment() -> dict[str, str]:
    env = environ.Env()
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    database = env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/opply")
    base, _, query = database.partition("?")
    fuzz_database = f"{base}_fuzz" + (f"?{query}" if query else "")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": fuzz_database,
        "DATABASE_REPLICA_URL": fuzz_database,
        # Tokens outlive the run; throttles are the test settings' (generous,
        # except 10 logins a minute per username: those 429s are documented).
        "JWT_ACCESS_MINUTES": "240",
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": os.environ.get("FUZZ_WEB_CONCURRENCY", "3"),
        "GUNICORN_ACCESSLOG": "",
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def prepare(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "scripts/ensure_database.py"], cwd=ROOT, env=env, check=True)
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    manage(env, "flush", "--noinput")
    subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from opply.common.redis import get_redis; get_redis().flushdb()"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    manage(env, "seed")


def call(url: str, body: dict[str, str]) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)


def wait_until_up(base: str, process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited; see .run/fuzz/server.log")
        try:
            with urllib.request.urlopen(f"{base}/health/live/", timeout=1):  # noqa: S310
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 30 s")


def run_schemathesis(base: str, role: str, token: str) -> tuple[int, str]:
    command = [
        str(FUZZ_BIN),
        "--config-file",
        str(ROOT / "scripts" / "schemathesis.toml"),
        "run",
        f"{base}/api/schema/",
        "--url",
        base,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        # The one exception, explained in scripts/schemathesis.toml: DELETE
        # deactivates customers and retires products by contract (API.md), so
        # staff still read them afterwards. (--checks on the command line
        # overrides the configuration file, hence here.)
        "--exclude-checks",
        "use_after_free",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        MAX_EXAMPLES,
        "--max-time",
        MAX_TIME,
        "--workers",
        WORKERS,
        "--request-timeout",
        "10",
        "--continue-on-failure",
        "--suppress-health-check",
        "all",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(OUT / role),
    ]
    if SEED:
        command += ["--seed", SEED]
    print(f"\n==> schemathesis as {role} (at most {MAX_TIME} s)", flush=True)
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)  # noqa: S603
    output = completed.stdout + completed.stderr
    (OUT / f"{role}.log").write_text(output)
    return completed.returncode, output


def summary(output: str) -> str:
    """The closing part of schemathesis' report (the counts)."""
    clean = re.sub(r"\x1b\[[0-9;]*m", "", output)
    marker = clean.rfind("SUMMARY")
    return clean[marker:] if marker != -1 else clean[-3000:]


def main() -> int:
    if not FUZZ_BIN.exists():
        raise SystemExit(f"{FUZZ_BIN} is missing: run `make fuzz` (it installs requirements/fuzz.txt)")
    OUT.mkdir(parents=True, exist_ok=True)
    env = server_environment()
    port = free_port()
    env["PORT"] = str(port)
    base = f"http://127.0.0.1:{port}"
    prepare(env)
    log = (OUT / "server.log").open("w")
    gunicorn = ROOT / Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(  # noqa: S603
        [str(gunicorn), "-c", "config/gunicorn.py", "config.wsgi"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    statuses = {}
    try:
        wait_until_up(base, server)
        username = f"fuzz-{uuid.uuid4().hex[:8]}"
        customer = call(
            f"{base}/api/identity/register/",
            {"username": username, "email": f"{username}@example.com", "password": "fuzzing-is-fun-42"},
        )
        staff = call(f"{base}/api/identity/token/", {"username": "opply", "password": "123456"})
        for role, token in (("customer", customer["access"]), ("staff", staff["access"])):
            statuses[role], output = run_schemathesis(base, role, token)
            print(summary(output), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    print(f"\nschemathesis exit status per role: {statuses}; reports in {OUT.relative_to(ROOT)}/")
    return 0 if statuses and all(code == 0 for code in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
