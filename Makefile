# Front door. `make demo` and `make test` work on a fresh machine (Python 3.11 + pip, no GPU, no model hub).
SHELL := /bin/bash
VENV ?= .venv
VLLM_VENV ?= .venv-vllm
PY := $(VENV)/bin/python
export SDRRL_CACHE ?= $(CURDIR)/.cache/sdrrl
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/.cache/torch_extensions
export RAY_AUTH_MODE ?= disabled
export HF_HUB_OFFLINE ?= 1
PIP_QUIET := 2>&1 | { grep -v -E "is ignored: it is neither|^\s*$$" || true; }
PYTEST_ARGS ?=

.PHONY: install vllm-env demo test test-main test-vllm bench clean

$(VENV)/.installed: pyproject.toml ci/constraints.txt
	python3 -m venv $(VENV)
	# torch first and pinned: the CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	set -o pipefail; $(VENV)/bin/pip install -q torch==2.13.0 $(PIP_QUIET)
	set -o pipefail; $(VENV)/bin/pip install -q -e '.[test]' -c ci/constraints.txt $(PIP_QUIET)
	touch $@

install: $(VENV)/.installed

vllm-env: install
	VLLM_VENV=$(VLLM_VENV) bash ci/vllm-env.sh

demo: install
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/sdrrl demo

# the venv's bin first on PATH: tests start `ray` and `python jobs/full.py` the way users do
test-main: install
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest -m "not vllm" -q $(PYTEST_ARGS)

test-vllm: vllm-env
	PATH="$(abspath $(VLLM_VENV))/bin:$$PATH" $(VLLM_VENV)/bin/python -m pytest -m vllm -q $(PYTEST_ARGS)

test: test-main test-vllm

clean:
	rm -rf $(VENV) $(VLLM_VENV) .cache out
