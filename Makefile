# The two commands: `make run` and `make test`. Both are idempotent.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
PYTHON ?= $(shell command -v python3.13 || command -v python3)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck install install-dev migrate superuser benchmark check clean-data docs rename stack-test

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else f"Python 3.13 is needed ({sys.executable} is {sys.version.split()[0]}); install it (pyenv install 3.13, or your package manager) or set PYTHON=/path/to/python3.13")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.local-installed: $(PY) requirements/base.txt requirements/prod.txt requirements/local.txt requirements/constraints.txt
	$(PIP) install -r requirements/local.txt -c requirements/constraints.txt
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.local-installed requirements/dev.txt
	$(PIP) install -r requirements/dev.txt -c requirements/constraints.txt
	@touch $@

install: $(VENV)/.local-installed
install-dev: $(VENV)/.dev-installed

migrate: install
	$(PY) manage.py migrate --noinput

superuser: migrate
	$(PY) manage.py create_dev_superuser

run: superuser
	$(PY) manage.py runserver $(HOST):$(PORT)

test: install-dev
	DJANGO_ENV=test $(PY) -m pytest $(PYTEST_ARGS)

# Style, the import contracts of pyproject.toml ([tool.importlinter]: the layers) and the types.
lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	@$(MAKE) --no-print-directory typecheck

# The django-stubs plugin loads config.settings, which needs an environment: test needs no services.
typecheck: install-dev
	DJANGO_ENV=test $(PY) -m mypy

check: install
	$(PY) manage.py check

benchmark: install-dev
	$(PY) benchmarks/startup.py

clean-data:
	rm -rf .data

docs: install
	$(PY) scripts/update_readme_env.py

# Rename the project in one step: make rename NAME="Acme Rocket" (optionally SLUG=acme_rocket).
rename: install
	@test -n "$(NAME)" || { echo 'usage: make rename NAME="Acme Rocket" [SLUG=acme_rocket]'; exit 2; }
	$(PY) manage.py rename_project "$(NAME)" $(if $(SLUG),--slug "$(SLUG)")

# What compose starts, natively, in production mode: gunicorn + uvicorn workers on the embedded
# PostgreSQL, the local Redis, rearq_worker; then readiness, an OTP sign-in and a task on the worker.
stack-test: install-dev
	$(PY) scripts/stack_test.py
