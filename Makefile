# PortraitTalker — `make demo` and `make test` work on a fresh Debian machine (as root, or with sudo).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := .make/tools/bin/uv
STAMP := $(VENV)/.installed
SHARED := $(abspath ../shared)
DEMO_OUT ?= outputs/demo
DEMO_PROMPT ?= a middle-aged woman with short red hair and green eyes, soft studio lighting, night city street
APT_PACKAGES := ffmpeg espeak-ng libegl1 libegl-mesa0 libgl1-mesa-dri
export PYTHONUNBUFFERED := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# The ephemeral Prefect server can take > 20 s to start on 2 busy cores.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180

.PHONY: setup sysdeps bytecode demo test test-fast lint bench eval-report model clean

setup: sysdeps $(STAMP) bytecode

# System packages: install only what is missing (dpkg -s is fast, so a second run costs nothing).
sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(UV):
	$(PYTHON) -m venv .make/tools
	.make/tools/bin/pip install -q uv==0.13.9

# Reinstall only when the lock file or the project metadata changed. Byte-compiled at install: with
# PYTHONDONTWRITEBYTECODE set (common in CI images) every process would otherwise recompile torch & co (~8 s).
$(STAMP): requirements/requirements.lock pyproject.toml | $(UV)
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else "PortraitTalker needs Python 3.11 or 3.12: set PYTHON=python3.11")'
	$(UV) venv -q --allow-existing --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')" $(VENV)
	$(UV) pip sync -q --compile-bytecode -p $(PY) requirements/requirements.lock
	$(UV) pip install -q -p $(PY) --no-deps -e .
	touch $(STAMP)

# The project's own modules too (the editable install leaves them uncompiled): with PYTHONDONTWRITEBYTECODE every
# `portraittalker` command recompiled ~55 of them (0.22 s of start-up). Only changed files are compiled (~0.1 s).
bytecode: $(STAMP)
	@$(PY) -m compileall -q portraittalker eval tasks flows bench

demo: setup
	@mkdir -p $(DEMO_OUT)
	@if [ -f "$(SHARED)/data/speech/RD_Radio31_000.wav" ]; then \
	  audio="$(SHARED)/data/speech/RD_Radio31_000.wav"; \
	else \
	  audio="$(DEMO_OUT)/speech_en.wav"; echo "../shared not found: synthesising speech with espeak-ng"; \
	  espeak-ng -v en-us -s 150 -w "$$audio" "Hello! I am a talking head, made from a sentence of text and this voice."; \
	fi; \
	$(VENV)/bin/portraittalker generate --prompt "$(DEMO_PROMPT)" --audio "$$audio" --out $(DEMO_OUT)/demo.mp4 --verbose \
	  && echo "demo video: $(abspath $(DEMO_OUT))/demo.mp4"

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .

# Generate the benchmark jobs (real-clip speech, frontal + 4 novel views), score them against the real
# videos, and exit non-zero when a metric passes its threshold in params.yaml (evaluate.thresholds).
eval-report: setup
	$(PY) -m flows.evaluate --report

# Rebuild the packaged motion model through the DVC pipeline (synth -> prepare -> train; minutes on 2 cores).
model: setup
	PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/dvc repro train

bench: setup
	$(PY) bench/render.py
	$(PY) bench/generate.py
	$(PY) bench/motion.py --checkpoint portraittalker/motion/default.pt
	$(PY) bench/prepare.py
	$(PY) -m bench.evaluate

clean:
	rm -rf outputs .pytest_cache

# A local Prefect server on 127.0.0.1 with the work pool, the prefect.yaml deployments and one process worker
# (docs/orchestration.md; a GPU node's worker joins with PREFECT_API_URL=http://<this host>:$(PREFECT_PORT)/api).
# Ctrl-C stops both.
PREFECT_HOST ?= 127.0.0.1
PREFECT_PORT ?= 4200
PREFECT_POOL ?= portraittalker-local
.PHONY: serve mlflow-ui
serve: setup
	@export PREFECT_API_URL=http://$(PREFECT_HOST):$(PREFECT_PORT)/api; \
	$(VENV)/bin/prefect server start --host $(PREFECT_HOST) --port $(PREFECT_PORT) & server=$$!; \
	trap 'kill $$worker $$server 2>/dev/null; wait' EXIT; trap 'exit 130' INT TERM; \
	until $(PY) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$$PREFECT_API_URL/health" 2>/dev/null; do \
	  kill -0 $$server 2>/dev/null || exit 1; sleep 1; done; \
	$(VENV)/bin/prefect work-pool create $(PREFECT_POOL) --type process --overwrite && \
	$(VENV)/bin/prefect --no-prompt deploy --all && \
	{ $(VENV)/bin/prefect worker start --pool $(PREFECT_POOL) & worker=$$!; wait $$worker; }

# MLflow tracking server + UI on loopback over the same sqlite store the flows write (sqlite:///mlflow.db);
# flows log to it with MLFLOW_TRACKING_URI=http://$(MLFLOW_HOST):$(MLFLOW_PORT).
MLFLOW_HOST ?= 127.0.0.1
MLFLOW_PORT ?= 5000
mlflow-ui: setup
	$(VENV)/bin/mlflow server --host $(MLFLOW_HOST) --port $(MLFLOW_PORT) \
	  --backend-store-uri sqlite:///$(abspath mlflow.db) --artifacts-destination $(abspath mlruns) --workers 1
