# The entry points people use; CI calls `make test` and nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test files run in parallel, each file on one worker (its module fixtures, servers and ports stay its own).
TEST_WORKERS ?= 2
# Debian's Chromium, which the dashboard's browser tests drive (Playwright never downloads a browser here).
BROWSER := /usr/bin/chromium

.PHONY: run test check bench clean browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# A file target: it runs only while the browser is absent (apt-get as root, else through sudo).
$(BROWSER):
	@SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	$$SUDO apt-get update && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
	@test -x $(BROWSER)

browser: $(BROWSER)  ## Debian's chromium, for the dashboard's browser tests

run: $(STAMP)  ## the whole stack: database, migrations, demo data, servers
	$(BIN)/cutover up

test: $(STAMP) $(BROWSER)  ## the whole test suite on a real PostgreSQL (and a real Chromium)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)  ## side-by-side load test (wrk): legacy, modern, both via nginx, a floor; see docs/performance.md
	$(BIN)/cutover bench $(BENCH_ARGS)

check: $(STAMP)  ## lint and type-check
	$(BIN)/ruff check .
	$(BIN)/mypy shared_db cutover fastapi_app bench_demo

clean:
	rm -rf $(VENV) .data
