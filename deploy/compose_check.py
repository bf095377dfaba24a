"""Static checks of compose.yaml and compose.debug.yaml (``make lint``).

Our machines have no Docker daemon and reach no image registry, so the stack
itself cannot run here. This checks what ``docker compose config`` would, and
what compose.yaml promises:

1. Interpolation as Compose does it (``${VAR}``, ``${VAR:-default}``,
   ``${VAR:?error}``, ``$$``): every variable without a default is one that
   scripts/run-docker.sh generates into .env.compose.
2. The interpolated file validates against the Compose Specification's JSON
   schema (the copy that check-jsonschema ships, pinned in requirements/deploy.txt).
3. The stack's rules: a health check on every long-running service; one-off
   jobs that a long-running service waits for (so ``up --wait`` succeeds);
   ``depends_on`` conditions that can be met; no cycle; only nginx publishes a
   port (debug ports on the loopback interface only); declared named volumes
   and existing bind-mounted files; pinned images; no secret written in the
   file; nginx given every variable its template needs; the app behind exactly
   one proxy; the replica made by our bootstrap script and used by the app.
4. Observability: Prometheus and Grafana only in the ``observability``
   profile (``make run-docker`` stays light), published on the loopback
   interface only, no default service waiting for them; every service
   Prometheus scrapes exists, on the port the app serves metrics on
   (gunicorn's, the worker's CELERY_METRICS_PORT), and on a network
   Prometheus is on; Grafana's provisioned datasource points at it and its
   dashboard file exists.

Run: ``.venv-deploy/bin/python -m deploy.compose_check`` (exit 1 with the list of problems).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from deploy import nginx

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
DEBUG_OVERRIDE = ROOT / "compose.debug.yaml"
RUN_DOCKER = ROOT / "scripts" / "run-docker.sh"
APP_IMAGE = "opply-api:local"
ONE_PROXY_SERVICE = "nginx"
OBSERVABILITY_PROFILE = "observability"
PROMETHEUS_CONFIG = ROOT / "deploy" / "observability" / "prometheus" / "prometheus.yml"
GRAFANA_DIR = ROOT / "deploy" / "observability" / "grafana"
_INTERPOLATION = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_SECRET_NAME = re.compile(r"PASSWORD|_PASS$|SECRET|TOKEN|_KEY$", re.IGNORECASE)


def generated_secrets() -> list[str]:
    """The variables scripts/run-docker.sh writes into .env.compose."""
    match = re.search(r"^SECRETS=\(([^)]*)\)", RUN_DOCKER.read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"{RUN_DOCKER}: no SECRETS=(...) list")
    return match.group(1).split()


def interpolate(value: Any, environment: dict[str, str], problems: list[str], where: str = "") -> Any:
    """Compose's variable interpolation, applied to every string in the file."""
    if isinstance(value, dict):
        return {key: interpolate(item, environment, problems, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environment, problems, f"{where}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        escaped, name, operator, argument, bare = match.groups()
        if escaped:
            return "$"
        name = name or bare
        present = name in environment
        value = environment.get(name, "")
        if operator in (":-", "-"):
            return value if (present and (value or operator == "-")) else argument
        if operator in (":?", "?"):
            if not present or (operator == ":?" and not value):
                problems.append(f"{where}: ${{{name}}} is required ({argument}) and scripts/run-docker.sh does not generate it")
            return value
        if operator in (":+", "+"):
            return argument if (present and (value or operator == "+")) else ""
        if not present:
            problems.append(f"{where}: ${{{name}}} has no default and scripts/run-docker.sh does not generate it")
        return value

    return _INTERPOLATION.sub(replace, value)


def compose_schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(vendored.read_text())


def schema_problems(document: dict[str, Any], name: str) -> Iterator[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    for error in sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path)):
        path = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        yield f"{name}: {path}: {error.message}"


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition}, whichever syntax is used."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


def is_oneshot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck")
    return bool(check) and not check.get("disable") and bool(check.get("test"))


def secret_problems(raw: dict[str, Any]) -> Iterator[str]:
    """Before interpolation: every secret-looking variable takes its value from .env.compose."""
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if _SECRET_NAME.search(key) and not (isinstance(value, str) and "${" in value):
                yield f"{name}: {key} is written in the file; secrets come from .env.compose"


def stack_problems(compose: dict[str, Any]) -> Iterator[str]:
    services: dict[str, dict[str, Any]] = compose["services"]
    adopted: set[str] = set()

    for name, service in services.items():
        if is_oneshot(service):
            if not (service.get("healthcheck") or {}).get("disable"):
                yield f"{name}: a one-off job should disable the image's health check"
        elif not has_healthcheck(service):
            yield f"{name}: no health check"

        for target, condition in depends_on(service).items():
            if target not in services:
                yield f"{name}: depends on unknown service {target}"
                continue
            if condition == "service_started":
                yield f"{name}: depends on {target} without a condition (service_healthy or service_completed_successfully)"
            elif condition == "service_healthy" and not has_healthcheck(services[target]):
                yield f"{name}: waits for {target} to be healthy, but {target} has no health check"
            elif condition == "service_completed_successfully":
                if not is_oneshot(services[target]):
                    yield f"{name}: waits for {target} to complete, but {target} is restarted (restart: no for one-off jobs)"
                elif not is_oneshot(service):
                    adopted.add(target)

        image = service.get("image", "")
        if "build" not in service and (":" not in image or image.endswith(":latest")):
            yield f"{name}: image {image!r} is not pinned to a version"
        if OBSERVABILITY_PROFILE in (service.get("profiles") or []):
            for port in service.get("ports") or []:
                if not str(port).startswith("127.0.0.1:"):
                    yield f"{name}: publishes {port} beyond the loopback interface"
        elif name != ONE_PROXY_SERVICE and service.get("ports"):
            yield f"{name}: publishes {service['ports']} (only {ONE_PROXY_SERVICE} listens on the host; debug ports go in compose.debug.yaml)"

        for volume in service.get("volumes") or []:
            source = (volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")) or ""
            if source.startswith((".", "/")):
                if not (ROOT / source).resolve().exists():
                    yield f"{name}: bind-mounted {source} does not exist"
            elif source and source not in (compose.get("volumes") or {}):
                yield f"{name}: named volume {source} is not declared under volumes:"

    for name, service in services.items():
        if is_oneshot(service) and name not in adopted:
            yield f"{name}: no long-running service waits for this one-off job (service_completed_successfully), so `up --wait` fails"

    yield from _cycles(services)
    yield from _app_problems(services)
    yield from _nginx_problems(services)
    yield from _observability_problems(services)


def _cycles(services: dict[str, dict[str, Any]]) -> Iterator[str]:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> Iterator[str]:
        if name in done or name not in services:
            return
        if name in visiting:
            yield "dependency cycle: " + " -> ".join([*visiting[visiting.index(name) :], name])
            return
        visiting.append(name)
        for target in depends_on(services[name]):
            yield from visit(target)
        visiting.pop()
        done.add(name)

    for name in services:
        yield from visit(name)


def _app_problems(services: dict[str, dict[str, Any]]) -> Iterator[str]:
    app = {name: service for name, service in services.items() if service.get("image") == APP_IMAGE}
    for role in ("migrate", "seed", "api", "worker", "beat"):
        if role not in app:
            yield f"no {role} service runs {APP_IMAGE}"
    for name, service in app.items():
        environment = service.get("environment") or {}
        settings_module = environment.get("DJANGO_SETTINGS_MODULE", "")
        if not (ROOT / (settings_module.replace(".", "/") + ".py")).exists():
            yield f"{name}: settings module {settings_module!r} does not exist"
        if environment.get("DJANGO_NUM_PROXIES") != "1":
            yield f"{name}: DJANGO_NUM_PROXIES must be 1 (nginx alone is in front)"
        if "postgres-replica:" not in environment.get("DATABASE_REPLICA_URL", ""):
            yield f"{name}: DATABASE_REPLICA_URL does not point at the postgres-replica service"
        if "build" not in service:
            yield f"{name}: no build section (compose builds the image it runs)"
    beat = services.get("beat", {})
    if beat.get("deploy", {}).get("replicas", 1) != 1:
        yield "beat: more than one beat sends every periodic task more than once"
    replica = services.get("postgres-replica", {})
    if "/opt/opply/replica-entrypoint.sh" not in replica.get("entrypoint", []):
        yield "postgres-replica: not bootstrapped by deploy/postgres/replica-entrypoint.sh"
    if depends_on(replica).get("postgres") != "service_healthy":
        yield "postgres-replica: must wait for a healthy primary"


def _nginx_problems(services: dict[str, dict[str, Any]]) -> Iterator[str]:
    proxy = services.get(ONE_PROXY_SERVICE)
    if proxy is None:
        yield f"no {ONE_PROXY_SERVICE} service"
        return
    environment = proxy.get("environment") or {}
    given = set(environment)
    if environment.get("NGINX_ENTRYPOINT_LOCAL_RESOLVERS"):
        given.add("NGINX_LOCAL_RESOLVERS")  # exported by the image's entrypoint
    missing = nginx.variables() - given
    if missing:
        yield f"{ONE_PROXY_SERVICE}: the template needs {sorted(missing)}"
    upstream = environment.get("NGINX_UPSTREAM", "")
    if upstream.split(":")[0] not in services:
        yield f"{ONE_PROXY_SERVICE}: NGINX_UPSTREAM {upstream!r} is not a service"


def _observability_problems(services: dict[str, dict[str, Any]]) -> Iterator[str]:
    for name in ("prometheus", "grafana"):
        if name not in services:
            yield f"no {name} service"
        elif OBSERVABILITY_PROFILE not in (services[name].get("profiles") or []):
            yield f"{name}: not in the {OBSERVABILITY_PROFILE!r} profile (make run-docker must stay light)"
    for name, service in services.items():
        if service.get("profiles"):
            continue
        for target in depends_on(service):
            if services.get(target, {}).get("profiles"):
                yield f"{name}: a default service waits for {target}, which runs only in a profile"
    prometheus = services.get("prometheus")
    if prometheus is None:
        return
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    ports = {"api": "8000", "worker": (services.get("worker", {}).get("environment") or {}).get("CELERY_METRICS_PORT", "")}
    networks = set(prometheus.get("networks") or [])
    for job in config.get("scrape_configs", []):
        for discovery in job.get("dns_sd_configs", []):
            for target in discovery.get("names", []):
                if target not in services:
                    yield f"prometheus.yml: job {job['job_name']} scrapes {target}, not a service"
                    continue
                if str(discovery.get("port")) != ports.get(target, str(discovery.get("port"))):
                    yield f"prometheus.yml: job {job['job_name']} scrapes {target}:{discovery.get('port')}, but it serves metrics on {ports[target]}"
                if not networks & set(services[target].get("networks") or ["default"]):
                    yield f"prometheus: shares no network with {target}"
    for rule_file in config.get("rule_files", []):
        if not (PROMETHEUS_CONFIG.parent / rule_file).exists():
            yield f"prometheus.yml: rule file {rule_file} does not exist"
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    if not any(source.get("url") == "http://prometheus:9090" for source in datasources):
        yield "grafana: no provisioned datasource points at http://prometheus:9090"
    home = (services.get("grafana", {}).get("environment") or {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "")
    if not home.startswith("/etc/grafana/dashboards/") or not (GRAFANA_DIR / "dashboards" / Path(home).name).exists():
        yield f"grafana: home dashboard {home!r} is not one of deploy/observability/grafana/dashboards"


def debug_problems(override: dict[str, Any], compose: dict[str, Any]) -> Iterator[str]:
    for name, service in override.get("services", {}).items():
        if name not in compose["services"]:
            yield f"compose.debug.yaml: {name} is not a service of compose.yaml"
        for port in service.get("ports", []):
            if not str(port).startswith("127.0.0.1:"):
                yield f"compose.debug.yaml: {name} publishes {port} beyond the loopback interface"


def main() -> int:
    environment = dict.fromkeys(generated_secrets(), "0" * 64)
    problems: list[str] = []
    raw = yaml.safe_load(COMPOSE.read_text())
    compose = interpolate(raw, environment, problems, "compose.yaml")
    override = interpolate(yaml.safe_load(DEBUG_OVERRIDE.read_text()), environment, problems, "compose.debug.yaml")
    schema_errors = [*schema_problems(compose, "compose.yaml"), *schema_problems(override, "compose.debug.yaml")]
    problems += schema_errors
    if not schema_errors:
        problems += secret_problems(raw)
        problems += stack_problems(compose)
        problems += debug_problems(override, compose)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"compose: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"compose: compose.yaml ({len(compose['services'])} services) and compose.debug.yaml are valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
