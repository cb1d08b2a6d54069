# Two commands on a fresh machine (Python >= 3.11, no API keys, no internet but PyPI):
#   make demo   set up .venv and run the main job on the embedded synthetic market
#   make test   set up .venv and run lint, types and the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
RUN    := $(VENV)/.installed-run

.PHONY: demo test lint types pytest bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Tradewind needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes (a stamp is older than it). The demo needs only
# the runtime dependencies; the tests add the test tools and the peer engines.
$(RUN): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --editable .
	touch $(RUN)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --editable ".[dev]"
	touch $(STAMP) $(RUN)

demo: $(RUN)
	$(BIN)/tradewind demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

types: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint types pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --editable ".[dev,bench]"
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .tradewind .pytest_cache .mypy_cache .ruff_cache
