# make run [PRESET=demo|smoke|paper]   set up .venv, then run the pipeline locally
# make test                            set up .venv, run the linters (make lint), then the test suite
# make gpu-check                       on a machine with a CUDA GPU: the cluster path's GPU checks (docs/cluster.md)
PRESET ?= demo
VENV   ?= .venv
PY      = $(VENV)/bin/python
SNAKEMAKE_ARGS ?=
# one pytest worker per CPU, a module's tests on one; the smoke run's tests share one (tests/conftest.py)
PYTEST_ARGS ?= -n auto --dist loadscope --no-loadscope-reorder

ifeq ($(PRESET),paper)
CONFIG_ARGS =
else
CONFIG_ARGS = --configfile presets/$(PRESET).yaml
endif

.PHONY: run test lint dryrun clean gpu-check
run: $(VENV)/.installed
	$(VENV)/bin/snakemake $(CONFIG_ARGS) $(SNAKEMAKE_ARGS)

test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile rules
	$(VENV)/bin/snakemake --lint

gpu-check: $(VENV)/.installed
	$(PY) benchmarks/gpu_check.py

dryrun: $(VENV)/.installed
	$(VENV)/bin/snakemake -n $(CONFIG_ARGS)

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf results/* .snakemake
