# Two commands on a fresh machine: `make run` (server on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "dmpilot needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/dmpilot serve

# Test files run in this many processes (most tests wait on servers, not on the CPU).
TEST_WORKERS ?= 2

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src tests bench
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/.installed
	$(BIN)/python bench/webhook.py

clean:
	rm -rf $(VENV) *.egg-info src/*.egg-info .pytest_cache .ruff_cache
