# The project's interface: keep these target names.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# Extra requirement file installed over the pins (CI uses it for Django 5.2).
EXTRA_REQUIREMENTS ?=
export DJANGO_SETTINGS_MODULE ?= config.settings.local
# PORT and CELERY_QUEUE: the environment, else .env, else the defaults (gunicorn
# reads PORT before Django reads .env, so make must pass it on).
env_value = $(shell sed -n 's/^$(1)=//p' .env 2>/dev/null | tail -n 1)
PORT ?= $(or $(call env_value,PORT),8000)
export PORT
CELERY_QUEUE ?= $(or $(call env_value,CELERY_QUEUE),opply)
export CELERY_QUEUE
# make dev binds here; HOST=0.0.0.0 lets a phone on the LAN reach it (add the
# laptop's address to DJANGO_ALLOWED_HOSTS too).
HOST ?= 127.0.0.1

.DEFAULT_GOAL := help

.PHONY: help install db migrate seed serve run dev worker test lint format fuzz
.PHONY: run-docker stop-docker image smoke test-deploy lint-deploy
.PHONY: test-replica test-faults

# Deployment (Dockerfile, compose.yaml, deploy/): the base image of the API
# image, the image's name, the container engine, and the deployment checks' venv.
PYTHON_IMAGE ?= python:3.11-slim
IMAGE ?= opply-api:local
CONTAINER_ENGINE ?= $(shell command -v podman || command -v docker)
DEPLOY_VENV ?= .venv-deploy

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  (now: PORT=$(PORT), CELERY_QUEUE=$(CELERY_QUEUE), DJANGO_SETTINGS_MODULE=$(DJANGO_SETTINGS_MODULE))"

$(VENV)/.installed: requirements/base.txt requirements/dev.txt $(EXTRA_REQUIREMENTS)
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	$(if $(EXTRA_REQUIREMENTS),$(PY) -m pip install --quiet -r $(EXTRA_REQUIREMENTS))
	touch $@

install: $(VENV)/.installed ## Create .venv and install the pinned dependencies

db: install ## Create the database named by DATABASE_URL if missing
	$(PY) scripts/ensure_database.py

migrate: db ## Apply the database migrations
	$(PY) manage.py migrate --noinput

seed: migrate ## Load the staff user opply/123456 and a demo catalog (idempotent; refused in production)
	$(PY) manage.py seed

serve: install ## Serve the API with gunicorn on $PORT (default 8000)
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(VENV)/bin/gunicorn -c config/gunicorn.py config.wsgi

run: install migrate seed serve ## Everything a newcomer needs: install, migrate, seed, serve

dev: install migrate seed ## Like run, with Django's development server reloading on every change (HOST=0.0.0.0 for devices)
	$(PY) manage.py runserver $(HOST):$(PORT)

# The beat schedule file lives in .run/ (git-ignored), not the repository root;
# the node name carries the queue, so that two checkouts on one broker do not
# fight over one "celery@host" control queue.
worker: install ## Celery worker and beat (cart sweeper, housekeeping) on queue $CELERY_QUEUE
	@mkdir -p .run
	$(VENV)/bin/celery -A config worker --beat --schedule .run/celerybeat-schedule --hostname "$(CELERY_QUEUE)@%h" --loglevel INFO --concurrency 2

test: install ## Run the test suite against the local PostgreSQL and Redis (always the test settings)
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest

# The system suites build their own PostgreSQL primary + streaming standby on
# free ports in TEST_PORT_RANGE (default 16000-16099) and remove them after.
SYSTEM_PYTEST = DJANGO_SETTINGS_MODULE=config.settings.test TEST_PORT_RANGE=$(or $(TEST_PORT_RANGE),16000-16099) $(PY) -m pytest -p tests.system.plugin tests/system

test-replica: install ## Replica suite on a real primary + pg_basebackup hot standby of its own (slow)
	$(SYSTEM_PYTEST) -m replica

test-faults: install ## Fault suite: Redis, connections, gunicorn and Celery workers killed or blocked under load (slow)
	$(SYSTEM_PYTEST) -m faults

lint: install ## ruff lint + format check, import contracts, no missing migrations, a valid OpenAPI schema
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(MAKE) --no-print-directory lint-deploy

.venv-fuzz/.installed: requirements/fuzz.txt
	$(PYTHON) -m venv .venv-fuzz
	.venv-fuzz/bin/pip install --quiet --upgrade pip
	.venv-fuzz/bin/pip install --quiet -r requirements/fuzz.txt
	touch $@

fuzz: install .venv-fuzz/.installed ## schemathesis over the whole schema, as a customer and as staff (gunicorn on loopback; minutes, not in make test)
	$(PY) scripts/fuzz.py

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

run-docker: ## The whole stack in Docker (compose.yaml): nginx on :8080, primary + replica, Redis, RabbitMQ, API, worker, beat; OBSERVABILITY=1 adds Prometheus and Grafana
	@scripts/run-docker.sh up

stop-docker: ## Stop the Docker stack (data kept; WIPE=1 deletes the volumes and .env.compose too)
	@scripts/run-docker.sh $(if $(WIPE),wipe,down)

image: ## Build the API image (IMAGE, PYTHON_IMAGE; podman or docker)
	@test -n "$(CONTAINER_ENGINE)" || { echo "no container engine: install Docker, or podman with scripts/container-engine.sh"; exit 1; }
	$(CONTAINER_ENGINE) build $(if $(findstring podman,$(CONTAINER_ENGINE)),--format docker) --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) --tag $(IMAGE) .

smoke: install ## Build the image and run it for real: migrate, serve, register, log in, order, worker + beat (PYTHON_IMAGE=...)
	$(PY) -m deploy.smoke --python-image $(PYTHON_IMAGE)

test-deploy: install ## A real nginx (installed if missing) in front of the app, and the PostgreSQL replica bootstrap
	scripts/ensure-nginx.sh
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest deploy/tests

$(DEPLOY_VENV)/.installed: requirements/deploy.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEPLOY_VENV)/bin/python -m pip install --quiet -r requirements/deploy.txt
	touch $@

PROMETHEUS_DIR := deploy/observability/prometheus

lint-deploy: $(DEPLOY_VENV)/.installed ## compose files against the Compose spec and the stack's rules; promtool on the Prometheus config, alert rules and their tests; cfn-lint (no error, warning or notice) on the AWS templates
	$(DEPLOY_VENV)/bin/python -m deploy.compose_check
	scripts/ensure-promtool.sh
	promtool check config $(PROMETHEUS_DIR)/prometheus.yml
	promtool test rules $(PROMETHEUS_DIR)/alerts.test.yml
	$(DEPLOY_VENV)/bin/cfn-lint --include-checks I -- deploy/aws/ecr.yaml deploy/aws/opply.yaml
