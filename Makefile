# talkface: the two commands a new user needs are `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export PYOPENGL_PLATFORM ?= egl
export HF_HUB_OFFLINE ?= 1

.PHONY: install test bench lint demo clean-venv

# Idempotent: re-runs only when pyproject.toml changed. torch goes first, pinned exactly, so pip
# takes the local CPU wheel and never resolves a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,synth,track]"
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check talkface_cli data_recipes tests bench
	$(BIN)/ruff format --check talkface_cli data_recipes tests bench

# The full chain on the embedded defaults: synthetic corpus -> tiny EDE, sync expert, EMG ->
# animate a held-out synthetic utterance and a real RAVDESS wav -> MP4s (paths printed at the end).
# Re-running skips what is done. SHARED: where ../shared (RAVDESS) lives.
SHARED ?= ../shared
DEMO   ?= demo-output
demo: install
	$(BIN)/python -m talkface_cli.demo --out $(DEMO) --shared $(SHARED)

clean-venv:
	rm -rf $(VENV)
