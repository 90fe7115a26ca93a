# `make run` and `make test` each work as the only command on a fresh clone.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-stamp
export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED ?= 0
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: run test lint cluster-test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/hardcore-nas run $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The fake multi-node autoscaling test (minutes; not in `make test`): writes benchmarks/results/cluster.md.
cluster-test: $(STAMP)
	HCN_CLUSTER_REPORT=benchmarks/results/cluster.md $(VENV)/bin/python -m pytest -m cluster tests/cluster -v $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs mlflow.db mlartifacts .pytest_cache
