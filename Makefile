# `make run` and `make test` each work as the only command on a fresh clone.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-stamp
export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED ?= 0
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: run test lint cluster-test fault-test install clean system-data fashion-mnist

install: $(STAMP) system-data

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP) system-data
	$(VENV)/bin/hardcore-nas run $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint system-data
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The fake multi-node autoscaling test (minutes; not in `make test`): writes benchmarks/results/cluster.md.
cluster-test: $(STAMP)
	HCN_CLUSTER_REPORT=benchmarks/results/cluster.md $(VENV)/bin/python -m pytest -m cluster tests/cluster -v $(PYTEST_ARGS)

# Every fault-injection case, each process kill FAULT_REPEATS times (make test runs the short ones once):
# writes benchmarks/results/faults.md.
FAULT_REPEATS ?= 2
fault-test: $(STAMP)
	HCN_FAULT_REPEATS=$(FAULT_REPEATS) HCN_FAULTS_REPORT=benchmarks/results/faults.md $(VENV)/bin/python -m pytest -m "not cluster" -v \
		tests/faults tests/orchestrator/test_cache.py tests/orchestrator/test_tracking.py tests/workers/test_finetune.py $(PYTEST_ARGS)

# Fashion-MNIST (`--data fashion-mnist`) from Debian's dataset-fashion-mnist when we are root with apt-get;
# otherwise one line on how, and go on (the tests that need it skip).
FASHION_MNIST_DIR := /usr/share/datasets/fashion-mnist
FASHION_MNIST_HOW := fashion-mnist data not installed (optional): apt-get install dataset-fashion-mnist as root, \
	or make fashion-mnist DEST=DIR and use --data fashion-mnist:DIR
system-data:
	@test -d $(FASHION_MNIST_DIR) && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
		|| { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; } \
		|| echo "$(FASHION_MNIST_HOW)"; \
	else echo "$(FASHION_MNIST_HOW)"; fi

# Set-up time download of the four IDX files (checked by SHA-256) for machines with internet and no apt.
fashion-mnist: $(STAMP)
	@test -n "$(DEST)" || { echo "usage: make fashion-mnist DEST=DIR"; exit 2; }
	$(VENV)/bin/python -m orchestrator.fetch_fashion_mnist $(DEST)

clean:
	rm -rf $(VENV) runs mlflow.db mlartifacts .pytest_cache
