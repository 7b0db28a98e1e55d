# The two commands a newcomer needs: `make demo` and `make test` (`make test-fast` skips the slow
# end-to-end runs; `make lint` is what CI checks besides the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.audiobench-installed

.PHONY: setup demo test test-fast lint schema bench clean

setup: $(STAMP)

# Re-installs only when the dependency list changes; the package itself is editable.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "audiobench needs Python 3.11+ (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/audiobench demo

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check .

# Regenerate docs/*.schema.json from the Result model (a test fails while they are stale).
schema: setup
	$(BIN)/python -m audiobench.results docs/

bench: setup
	$(BIN)/python -m pytest -o addopts="" tests/bench --benchmark-only --benchmark-columns=min,median,ops,rounds
	$(BIN)/python tests/bench/naive_loop.py

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
