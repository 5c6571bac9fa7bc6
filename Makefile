# One entry point for people and CI. `make run` and `make test` are the whole setup.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
RASA_VENV := .venv-rasa
PY := $(VENV)/bin/python
RASA := $(RASA_VENV)/bin/rasa
SPACY_MODEL := var/spacy/zh_jieba
NLU_ENCODER := var/encoders/minilm-int8.onnx
RASA_PATHS := --config config.yml --domain bot/domain --data data/nlu data/rules data/stories

export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help run test setup venvs encoder train index validate lint types unit integration test-bot e2e clean demo-team scenarios security soak bench

help:
	@echo "make run    set everything up (first time: 15-20 min) and start the stack"
	@echo "make test   lint, types, unit, integration, Rasa validation and stories, end-to-end"
	@echo "make train | validate | test-bot | lint | types | unit | integration | security | e2e | scenarios"
	@echo "make soak   chaos soak: kills and restarts each process under load (ARGS=\"--minutes 15 --json PATH\")"
	@echo "make bench  routing simulator: policies, weight sweep and Erlang C into docs/benchmarks.md (2 min)"

venvs: $(VENV)/.requirements.sha256 $(RASA_VENV)/.requirements.sha256

# The scripts compare content hashes, so these always run and return quickly when nothing changed.
$(VENV)/.requirements.sha256: FORCE
	@scripts/make_venv.sh $(VENV) "$$(command -v python3.11 || command -v python3)" requirements/app.txt requirements/app.lock
$(RASA_VENV)/.requirements.sha256: FORCE
	@py310=$$(scripts/find_python310.sh) || exit 1; \
	scripts/make_venv.sh $(RASA_VENV) "$$py310" requirements/rasa.txt requirements/rasa.lock

# The NLU's MiniLM in ONNX int8; exported in .venv (torch), run by Rasa in .venv-rasa. Quick when current.
encoder: venvs
	@$(PY) -m kb_index export-encoder $(NLU_ENCODER)

$(SPACY_MODEL)/meta.json: bot/spacy_model.py | $(RASA_VENV)/.requirements.sha256
	@$(RASA_VENV)/bin/python -m bot.spacy_model $(SPACY_MODEL)

setup: venvs $(SPACY_MODEL)/meta.json encoder
	@scripts/train.sh
	@$(PY) -m kb_index build

train: setup

index: venvs
	@$(PY) -m kb_index build

run: setup
	@scripts/run.sh

# Needs the running stack's Redis (REDIS_URL, default the embedded one on 6379).
demo-team: venvs
	@set -a && . scripts/stack_env.sh && set +a && $(PY) -m handoff demo-team

validate: venvs $(SPACY_MODEL)/meta.json
	$(RASA_VENV)/bin/python -m bot.validate

lint: venvs
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: venvs
	$(VENV)/bin/mypy

unit: venvs
	$(PY) -m pytest tests/unit

integration: venvs
	$(PY) -m pytest tests/integration

security: venvs
	$(PY) -m pytest tests/security

test-bot: setup
	$(RASA) test core --stories tests/stories --model models --fail-on-prediction-errors --out var/results/core

e2e: setup
	$(PY) -m pytest tests/e2e

# The conversation scenario suite (bench/scenarios/) on its own stack: ARGS="--only ID --json PATH ..."
scenarios: setup
	$(PY) -m bench.scenarios $(ARGS)

# The chaos soak (bench/soak.py) on its own stack: ARGS="--minutes 15 --json PATH"
soak: setup
	$(PY) -m bench.soak $(ARGS)

# The routing simulator's comparison, weight sweep (the frontier plot) and Erlang C checks, written into
# docs/benchmarks.md; the other benchmarks are run one by one (docs/benchmarks.md gives each command).
bench: venvs
	nice -n 5 $(PY) bench/routing_sim.py --docs

test: venvs $(SPACY_MODEL)/meta.json
	@$(MAKE) --no-print-directory lint types unit integration security validate test-bot e2e

clean:
	rm -rf var/run var/results .pytest_cache .mypy_cache .ruff_cache

FORCE:
