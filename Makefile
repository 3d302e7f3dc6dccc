# The two commands of the README: `make run` and `make test`.
# Each creates .venv on first use and installs what it needs; the dashboard is
# built with npm when its sources changed.
PYTHON ?= python3
NPM ?= npm
VENV := .venv
BIN := $(VENV)/bin
FRONTEND ?= frontend
# npm writes this file on every install: it stands for an installed node_modules.
NODE_MODULES := $(FRONTEND)/node_modules/.package-lock.json
# Everything the build reads, except what npm and the build write.
FRONTEND_SOURCES = $(shell find $(FRONTEND) \( -path $(FRONTEND)/node_modules -o -path $(FRONTEND)/dist \) -prune -o -type f -print 2>/dev/null)

.PHONY: run simulate test lint frontend frontend-test bench clean

define need-npm
@command -v $(NPM) >/dev/null 2>&1 || { \
	echo "npm not found: the dashboard needs Node.js and npm to build and test"; exit 1; }
endef

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.run-deps

# Without npm the suite still runs; the dashboard then shows how to build it.
run: $(VENV)/.run-deps
	@if command -v $(NPM) >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory frontend; \
	else \
		echo "npm not found: starting without building the dashboard (install Node.js and npm, then run 'make frontend')"; \
	fi
	$(BIN)/gridmarket up

$(NODE_MODULES): $(FRONTEND)/package-lock.json
	$(need-npm)
	$(NPM) --prefix $(FRONTEND) ci --no-audit --no-fund
	touch $@

$(FRONTEND)/dist/index.html: $(FRONTEND_SOURCES) $(NODE_MODULES)
	$(need-npm)
	$(NPM) --prefix $(FRONTEND) run build

frontend: $(FRONTEND)/dist/index.html

frontend-test: $(NODE_MODULES)
	$(need-npm)
	$(NPM) --prefix $(FRONTEND) test
	$(NPM) --prefix $(FRONTEND) run build

simulate: $(VENV)/.run-deps
	$(BIN)/gridmarket simulate --hours 24 --prosumers 1000 --consumers 200 --plants 1 \
		--seed 7 --out run.csv --plot run.png

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint frontend-test
	$(BIN)/pytest

bench: $(VENV)/.test-deps frontend
	$(BIN)/python bench/tick.py
	$(BIN)/python bench/suite.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
