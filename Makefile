# The front door: `make run` serves the API, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000

.PHONY: run test test-matrix lint dist docs docs-build bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed requirements-docs.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-docs.txt
	touch $@

## run: serve the API on 127.0.0.1:$(PORT) with DEBUG on (the development issuer unless AUTH0_DOMAIN is set)
run: $(VENV)/.installed
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(PY) manage.py migrate --noinput
	@echo
	@echo "  Mint a token:  $(PY) manage.py mint_token --scope read:messages"
	@echo "  Call the API:  curl -H \"Authorization: Bearer \$$($(PY) manage.py mint_token --scope read:messages | tail -n 1)\" http://127.0.0.1:$(PORT)/api/private-scoped"
	@echo
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(PY) manage.py runserver 127.0.0.1:$(PORT)

## test: install the dev requirements and run the whole suite, on every core
test: $(VENV)/.installed-dev
	$(PY) -m pytest -n auto --dist loadfile

## test-matrix: the library's tests on every supported Python, Django and DRF (noxfile.py)
test-matrix: $(VENV)/.installed-dev
	PYENV_VERSION=$${PYENV_VERSION:-3.11.7:3.12.1:3.13.0} $(VENV)/bin/nox $(NOX_ARGS)

## dist: build the sdist and the wheel into dist/ and check their metadata
dist: $(VENV)/.installed-dev
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

## docs: serve the documentation site on 127.0.0.1:$(DOCS_PORT), rebuilt on every change (mkdocs)
DOCS_PORT ?= 8001
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

## docs-build: build the documentation site into site/ as CI does: any warning (a broken link) fails it
docs-build: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

## lint: ruff (lint and format check) and mypy (with the Django and DRF stubs)
lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## bench: measure requests/s, latency and auth CPU cost in one process, under gunicorn and uvicorn; writes docs/benchmarks.md (BENCH_ARGS=--quick for a smoke run)
bench: $(VENV)/.installed-dev
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .nox site .pytest_cache .ruff_cache .mypy_cache .hypothesis build dist *.egg-info
