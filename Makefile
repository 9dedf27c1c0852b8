# WICS: `make demo` starts Dagster + Streamlit on demo data; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export WICS_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(WICS_HOME)/dagster

.PHONY: install demo up test test-fast lint bench loadtest clean-data

$(BIN)/wics: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/wics

install: $(BIN)/wics  ## create .venv with WICS and its pinned dependencies

demo: install  ## write demo SAP exports, load them through Dagster, start Dagster UI + dashboard
	$(BIN)/wics demo
	$(BIN)/wics up

up: install  ## start Dagster UI (port 3000) and the dashboard (port 8501) on WICS_HOME
	$(BIN)/wics up

test: install  ## lint, then the whole test suite (browser tests need /usr/bin/chromium)
	$(BIN)/ruff check pipelines dashboard tests benchmarks
	$(BIN)/pytest -q

test-fast: install  ## everything but the browser and server tests
	$(BIN)/pytest -q -m "not browser and not slow"

lint: install
	$(BIN)/ruff check pipelines dashboard tests benchmarks

bench: install  ## benchmark: 100k MM60, 300k MB52, 1M-line CSV, the old way at 100k on PostgreSQL, a year of snapshots (BENCH_FLAGS=--large for 1M/3M/10M)
	$(BIN)/python benchmarks/run.py $(BENCH_FLAGS)

loadtest: install  ## 20 counters saving while a 300,000-line MB52 and a 100,000-row MM60 load
	$(BIN)/python benchmarks/loadtest.py $(LOADTEST_FLAGS)

clean-data:  ## empty ./data (keeps its README and .gitkeep files)
	rm -rf data/wics.duckdb data/wics.duckdb.wal data/wics.duckdb.lock data/dagster data/reports data/backups
	find data/drop data/archive data/rejected -type f ! -name .gitkeep -delete
