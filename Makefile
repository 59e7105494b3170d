# Front door. `make demo` and `make test` work on a fresh machine (Python 3.11 + pip, no GPU, no model hub).
SHELL := /bin/bash
VENV ?= .venv
VLLM_VENV ?= .venv-vllm
COMET_VENV ?= .venv-comet
PY := $(VENV)/bin/python
export SDRRL_CACHE ?= $(CURDIR)/.cache/sdrrl
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/.cache/torch_extensions
export RAY_AUTH_MODE ?= disabled
export HF_HUB_OFFLINE ?= 1
PIP_QUIET := 2>&1 | { grep -v -E "is ignored: it is neither|^\s*$$" || true; }
PYTEST_ARGS ?=
# the venv's bin first on PATH: tests start `ray` and `python jobs/full.py` the way users do
RUN := PATH="$(abspath $(VENV))/bin:$$PATH"

.PHONY: install vllm-env comet-env demo test test-fast lint test-roles test-integration test-vllm test-comet bench clean

$(VENV)/.installed: pyproject.toml ci/constraints.txt
	python3 -m venv $(VENV)
	# torch first and pinned: the CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	set -o pipefail; $(VENV)/bin/pip install -q torch==2.13.0 $(PIP_QUIET)
	set -o pipefail; $(VENV)/bin/pip install -q -e '.[test]' -c ci/constraints.txt $(PIP_QUIET)
	touch $@

install: $(VENV)/.installed

vllm-env: install
	VLLM_VENV=$(VLLM_VENV) bash ci/vllm-env.sh

# unbabel-comet in its own environment (FLORES COMET: eval.comet.python; CometKiwi: filter.qe.python)
comet-env:
	COMET_VENV=$(COMET_VENV) bash ci/comet-env.sh

demo: install
	$(RUN) $(VENV)/bin/sdrrl demo

# unit tier: no Ray, no demo-model build; under 2 minutes on 2 cores
test-fast: install
	$(RUN) $(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

# each install role (core, mt, train, eval, all) in a fresh venv runs its own command; vllm's pins are checked
# (ci/roles.sh; the demo models come from .venv's cache)
test-roles: install
	bash ci/roles.sh

# integration tier: real local Ray, the tiny demo models, Ray Train + DeepSpeed, jobs, simulated clusters
test-integration: install
	$(RUN) $(PY) -m pytest tests/integration -m "not vllm and not comet" -q $(PYTEST_ARGS)

test-vllm: vllm-env
	PATH="$(abspath $(VLLM_VENV))/bin:$$PATH" $(VLLM_VENV)/bin/python -m pytest tests/integration -m vllm -q $(PYTEST_ARGS)

# real unbabel-comet: tiny COMET checkpoints built offline, FLORES COMET in sdrrl eval, the CometKiwi filter
test-comet: install comet-env
	SDRRL_COMET_PYTHON=$(abspath $(COMET_VENV))/bin/python $(RUN) $(PY) -m pytest tests/integration -m comet -q $(PYTEST_ARGS)

# real public data: SDRRL_TEST_DATA (default ../shared/data); without it those tests are deselected and said so
test: test-fast lint test-roles test-integration test-vllm test-comet

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(COMET_VENV) .cache out
