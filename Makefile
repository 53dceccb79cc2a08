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
	@# generate_clients' TypeScript generator, beside the venv's Python (modules/api/clients.py): offline afterwards.
	@if command -v npm >/dev/null; then npm install --prefix $(VENV)/node --no-audit --no-fund --silent \
		"$$(grep -o 'openapi-typescript@[0-9.]*' modules/api/clients.py | head -1)"; fi
	@touch $@

install: $(VENV)/.local-installed
install-dev: $(VENV)/.dev-installed

migrate: install
	$(PY) manage.py migrate --noinput

superuser: migrate
	$(PY) manage.py create_dev_superuser

run: superuser
	$(PY) manage.py runserver $(HOST):$(PORT)

# The suite runs in TEST_WORKERS processes (pytest-xdist; 0 runs it in this one), each on a test database of its own.
# The tests marked slow (servers and workers in processes of their own, timing-sensitive) and those on a shared Redis
# database all run in one of them, one after the other (conftest.py puts them in one xdist group).
TEST_WORKERS ?= 2
test: install-dev install-checkov
	DJANGO_ENV=test $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# checkov, the security scanner of the Kubernetes manifests (tests/deploy/test_kubernetes.py), in a venv of its own.
VENV_CHECKOV := .venv-checkov
.PHONY: install-checkov
$(VENV_CHECKOV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(VENV_CHECKOV)
	$(VENV_CHECKOV)/bin/python -m pip --disable-pip-version-check -q install -r requirements/checkov.txt
	@touch $@
install-checkov: $(VENV_CHECKOV)/.installed

# The browser suite (tests_browser/): Playwright drives Debian's Chromium (/usr/bin/chromium, which .ci/run installs;
# never `playwright install`) against Django's live server. Each run has its own DATA_DIR (its embedded PostgreSQL),
# removed when the suite passes and kept when it fails, for the screenshots of the failed pages. `make test` leaves
# it out (pyproject's testpaths), so it needs no browser.
.PHONY: test-browser install-browser
$(VENV)/.browser-installed: $(VENV)/.dev-installed requirements/browser.txt
	$(PIP) install -r requirements/browser.txt -c requirements/constraints.txt
	@touch $@

install-browser: $(VENV)/.browser-installed

test-browser: install-browser
	@run=$$(mktemp -d "$${TMPDIR:-/tmp}/browser-run.XXXXXX"); \
	if DJANGO_ENV=test DATA_DIR="$$run" $(PY) -m pytest tests_browser $(PYTEST_ARGS); then rm -rf "$$run"; \
	else status=$$?; echo "the run's DATA_DIR is kept: $$run (screenshots of the failed pages: $$run/browser-screenshots)"; exit $$status; fi

# The ml extra (requirements/ml.txt: sentence-transformers, all-MiniLM-L6-v2, torch) for LLM__EMBEDDING_PROVIDER=local,
# in a venv of its own so that .venv stays small; `make test` leaves the tests marked ml out (pyproject's addopts).
# torch is installed first, alone: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu takes PyTorch's CPU build
# (its 2.13.0+cpu wins over the default index's 2.13.0); without it, Linux gets the CUDA build, which runs on a CPU too.
.PHONY: install-ml test-ml
VENV_ML := .venv-ml
PY_ML := $(VENV_ML)/bin/python
PIP_ML := $(PY_ML) -m pip --disable-pip-version-check -q
TORCH_INDEX_URL ?=

$(PY_ML):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else f"Python 3.13 is needed ({sys.executable} is {sys.version.split()[0]}); set PYTHON=/path/to/python3.13")'
	$(PYTHON) -m venv $(VENV_ML)
	$(PIP_ML) install --upgrade pip

$(VENV_ML)/.ml-installed: $(PY_ML) requirements/base.txt requirements/prod.txt requirements/local.txt requirements/dev.txt requirements/ml.txt requirements/constraints.txt
	$(PIP_ML) install "$$(grep '^torch==' requirements/ml.txt)" -c requirements/constraints.txt $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL))
	$(PIP_ML) install -r requirements/dev.txt -r requirements/ml.txt -c requirements/constraints.txt
	@touch $@

install-ml: $(VENV_ML)/.ml-installed

test-ml: install-ml
	DJANGO_ENV=test $(PY_ML) -m pytest -m ml $(PYTEST_ARGS)

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
