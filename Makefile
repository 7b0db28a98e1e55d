# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.audiobench-installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

# Re-installs only when the dependency list changes; the package itself is editable.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "audiobench needs Python 3.10+ (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/audiobench demo

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m pytest -o addopts="" tests/bench --benchmark-only --benchmark-columns=min,median,ops,rounds

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
