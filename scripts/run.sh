#!/usr/bin/env bash
# Starts the stack under honcho: embedded Redis (unless REDIS_URL is set), action server, Rasa, hub.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/make_secrets.py var/secrets.env
set -a; . var/secrets.env; set +a
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export RASA_TELEMETRY_ENABLED=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2
export ACTIONS_URL="${ACTIONS_URL:-http://127.0.0.1:${ACTIONS_PORT:-5055}}"
export HUB_URL="${HUB_URL:-http://127.0.0.1:${HUB_PORT:-8000}}"
export RASA_URL="${RASA_URL:-http://127.0.0.1:${RASA_PORT:-5005}}"
procs="actions rasa hub models ready"
if [ -z "${REDIS_URL:-}" ]; then
  export EMBEDDED_REDIS=1 REDIS_URL="redis://127.0.0.1:${REDIS_PORT:-6379}/0"
  mkdir -p "${REDIS_DATA_DIR:-var/redis}"
  procs="redis $procs"
fi
.venv/bin/python scripts/preflight.py
exec .venv/bin/honcho --no-colour -f Procfile start $procs
