# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pinned exactly so pip reuses the wheel it built once (its wheel cache)
# instead of compiling llama.cpp again (about 7 minutes on 2 cores).
LLAMA := llama-cpp-python[server]==0.3.36
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet '$(LLAMA)' -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)
	sh scripts/ensure_bubblewrap.sh

demo: $(STAMP)
	$(BIN)/assay demo

test: $(STAMP)
	sh scripts/ensure_bubblewrap.sh
	sh scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
