# The README's two commands: `make run` (dashboard with demo data) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: install
	scripts/run.sh

test: install
	scripts/test.sh $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) db.sqlite3 test_db.sqlite3 .pytest_cache

# Session operations benchmark (bench/bench_session_ops.py): its own venv with the bench-only extras,
# PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/zyn_bench, emptied each run).
BENCH_VENV := bench/.venv
$(BENCH_VENV)/.installed-stamp: pyproject.toml constraints.txt bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -c constraints.txt -e . -r bench/requirements.txt
	touch $@

.PHONY: bench-session-ops
BENCH_ARGS ?= --runs 2
bench-session-ops: $(BENCH_VENV)/.installed-stamp
	$(BENCH_VENV)/bin/python bench/bench_session_ops.py $(BENCH_ARGS)
