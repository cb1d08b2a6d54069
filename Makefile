# Two commands on a fresh machine (Python >= 3.11, no API keys, no internet but PyPI):
#   make demo   set up .venv and run the main job on the embedded synthetic market
#   make test   set up .venv and run lint, types and the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
RUN    := $(VENV)/.installed-run

.PHONY: demo test lint types pytest browsers bench clean

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
	$(BIN)/ruff check src tests benchmarks studies

types: $(STAMP)
	$(BIN)/mypy src

# The browser tests use Debian's chromium (driven by playwright, never its own download).
# Installed here when missing and we are root; otherwise those tests skip (fail under CI).
browsers:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests"; \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "could not install chromium: browser tests will skip"; \
	  else echo "no chromium and not root: browser tests will skip"; fi; }

pytest: $(STAMP) browsers
	$(BIN)/python -m pytest

test: lint types pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --editable ".[dev,bench]"
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .tradewind .pytest_cache .mypy_cache .ruff_cache
