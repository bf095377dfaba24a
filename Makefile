# The project's interface: keep these target names.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# Extra requirement file installed over the pins (CI uses it for Django 5.2).
EXTRA_REQUIREMENTS ?=
export DJANGO_SETTINGS_MODULE ?= config.settings.local
PORT ?= 8000
export PORT

.DEFAULT_GOAL := help

.PHONY: help install db migrate seed serve run worker test lint format

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

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

serve: install ## Serve the API with gunicorn on $$PORT (default 8000)
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(VENV)/bin/gunicorn -c config/gunicorn.py config.wsgi

run: install migrate seed serve ## Everything a newcomer needs: install, migrate, seed, serve

worker: install ## Celery worker and beat (cart sweeper, fulfilment) against CELERY_BROKER_URL
	$(VENV)/bin/celery -A config worker --beat --loglevel INFO --concurrency 2

test: install ## Run the test suite against the local PostgreSQL and Redis (always the test settings)
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest

lint: install ## ruff lint + format check, no missing migrations, a valid OpenAPI schema
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
