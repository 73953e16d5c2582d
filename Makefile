# Gatepass: `make run` starts the server on SQLite; `make test` sets up and runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
MCP_PORT ?= 8001

LOCK   := requirements/dev.txt

.PHONY: install run mcp test lint typecheck pytest services bench clean lock lock-upgrade lock-check

# The exact tested set from the lock (hashes required; pip, setuptools and hatchling pinned there
# too), then this project on top of it without resolving anything.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The rate limiter's counters compiled with mypyc (optional: without a compiler the pure-Python
# module serves); rebuilt when their source changes.
NATIVE := $(VENV)/.native
$(NATIVE): $(STAMP) src/gatepass/ratelimit/_counters.py scripts/build_native.py
	$(BIN)/python scripts/build_native.py
	touch $(NATIVE)

install: lock-check $(STAMP) $(NATIVE)

# Fails when $(LOCK) was not made from the current pyproject.toml (offline, standard library).
lock-check:
	$(PYTHON) scripts/lock.py check

# Re-resolve $(LOCK) after a change to pyproject.toml's dependencies, keeping existing pins;
# `make lock-upgrade` moves every pin to the newest allowed release.
lock: $(STAMP)
	$(BIN)/python scripts/lock.py compile
	$(MAKE) $(STAMP)

lock-upgrade: $(STAMP)
	$(BIN)/python scripts/lock.py compile --upgrade
	$(MAKE) $(STAMP)

run: lock-check $(STAMP) $(NATIVE)
	GATEPASS_DEVELOPMENT=$${GATEPASS_DEVELOPMENT:-true} $(BIN)/gatepass serve --host $(HOST) --port $(PORT)

# The example MCP server (examples/mcp_server/README.md), for tokens of the server `make run` starts.
mcp: lock-check $(STAMP) $(NATIVE)
	$(BIN)/python -m examples.mcp_server --issuer http://$(HOST):$(PORT) --host $(HOST) --port $(MCP_PORT)

services:
	scripts/services.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples scripts

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(NATIVE) services
	$(BIN)/pytest -q -p no:cacheprovider

test: lock-check lint typecheck pytest

bench: $(STAMP) $(NATIVE) services
	$(BIN)/python bench/token_endpoint.py

clean:
	rm -rf $(VENV) src/gatepass/ratelimit/_counters_native* .gatepass gatepass.db gatepass.db-wal gatepass.db-shm .mypy_cache .ruff_cache
