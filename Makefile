# Gatepass: `make run` starts the server on SQLite; `make test` sets up and runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
MCP_PORT ?= 8001

.PHONY: install run mcp test lint typecheck pytest services bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,postgres,redis,dev]'
	touch $(STAMP)

# The rate limiter's counters compiled with mypyc (optional: without a compiler the pure-Python
# module serves); rebuilt when their source changes.
NATIVE := $(VENV)/.native
$(NATIVE): $(STAMP) src/gatepass/ratelimit/_counters.py scripts/build_native.py
	$(BIN)/python scripts/build_native.py
	touch $(NATIVE)

install: $(STAMP) $(NATIVE)

run: $(STAMP) $(NATIVE)
	GATEPASS_DEVELOPMENT=$${GATEPASS_DEVELOPMENT:-true} $(BIN)/gatepass serve --host $(HOST) --port $(PORT)

# The example MCP server (examples/mcp_server/README.md), for tokens of the server `make run` starts.
mcp: $(STAMP) $(NATIVE)
	$(BIN)/python -m examples.mcp_server --issuer http://$(HOST):$(PORT) --host $(HOST) --port $(MCP_PORT)

services:
	scripts/services.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples scripts

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(NATIVE) services
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck pytest

bench: $(STAMP) $(NATIVE) services
	$(BIN)/python bench/token_endpoint.py

clean:
	rm -rf $(VENV) src/gatepass/ratelimit/_counters_native* .gatepass gatepass.db gatepass.db-wal gatepass.db-shm .mypy_cache .ruff_cache
