# Developer and CI entry points. `make demo` shows orchestra at work; `make test` runs every
# check CI runs (system packages, lint, types, tests).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# Prerequisites run in order (system packages before the venv before the checks).
.NOTPARALLEL:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Driver distributions under plugins/: each is installed editable with its `test` extra, its
# code linted and type-checked (list its src in [tool.mypy] files) and its tests run with the
# core's.
PLUGIN_PYPROJECTS := $(wildcard plugins/*/pyproject.toml)
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(PLUGIN_PYPROJECTS))
PLUGIN_TESTS := $(wildcard plugins/*/tests)

.PHONY: demo demo-real test lint system-packages venv .venv clean

# The virtualenv, rebuilt when a pyproject changes.
$(STAMP): pyproject.toml $(PLUGIN_PYPROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# First each distribution alone: a driver may need another (orchestra-mailman needs
	# orchestra-postfix), which pip 23 finds among the editable paths of one command only
	# when it comes first; once installed, it is found whatever the order.
	$(BIN)/python -m pip install -qq --disable-pip-version-check --no-deps \
		-e . $(foreach dir,$(PLUGIN_DIRS),-e './$(dir)')
	$(BIN)/python -m pip install -qq --disable-pip-version-check \
		-e '.[dev]' $(foreach dir,$(PLUGIN_DIRS),-e './$(dir)[test]')
	touch $@

venv .venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/orchestra apply examples/hosting.yaml --yes

# The inventory of examples/hosting-real.yaml applied to private named, MariaDB, Postfix with
# Dovecot, Mailman and Apache with PHP-FPM on loopback, each service shown working, then all
# stopped. As root on Debian, after `make system-packages`.
demo-real: $(STAMP)
	$(BIN)/python examples/demo_real.py

system-packages:
	bash scripts/install-system-packages

lint: $(STAMP)
	$(BIN)/ruff check src tests examples $(PLUGIN_DIRS)
	$(BIN)/mypy

# One pytest worker per CPU (pytest-xdist): each test isolates itself (free ports, its own
# PostgreSQL schema and daemons, unique unix users).
test: system-packages $(STAMP) lint
	$(BIN)/pytest -q -n auto tests $(PLUGIN_TESTS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
