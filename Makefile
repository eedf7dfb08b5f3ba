# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pinned exactly so pip reuses the wheel it built once (its wheel cache)
# instead of compiling llama.cpp again (about 7 minutes on 2 cores).
LLAMA := llama-cpp-python[server]==0.3.36
# llama.cpp's native build uses the CPU's AMX tiles where it reports them, and
# those kernels crash (SIGSEGV in ggml_backend_amx_mul_mat) on virtual machines
# that report AMX without enabling it. An AVX2 build runs on any x86-64-v3 CPU.
# (A wheel built natively before this line sits in pip's cache under the same
# name: `pip cache remove 'llama_cpp_python*'` once, then make.)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean

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

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: $(STAMP) lint
	sh scripts/ensure_bubblewrap.sh
	sh scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
