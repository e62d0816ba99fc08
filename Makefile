# The entry points people use; CI calls `make test` and nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test files run in parallel, each file on one worker (its module fixtures, servers and ports stay its own).
TEST_WORKERS ?= 2

.PHONY: run test check bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)  ## the whole stack: database, migrations, demo data, servers
	$(BIN)/cutover up

test: $(STAMP)  ## the whole test suite on a real PostgreSQL
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)  ## side-by-side load test (wrk): legacy, modern, both via nginx, a floor; see docs/performance.md
	$(BIN)/cutover bench $(BENCH_ARGS)

check: $(STAMP)  ## lint and type-check
	$(BIN)/ruff check .
	$(BIN)/mypy shared_db cutover fastapi_app bench_demo

clean:
	rm -rf $(VENV) .data
