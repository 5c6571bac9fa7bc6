#!/usr/bin/env bash
# Starts the stack under honcho: embedded Redis (unless REDIS_URL is set), action server, Rasa, hub.
set -euo pipefail
# Everything the stack writes (secrets, Redis's data and config, the order database, Rasa's endpoints)
# is for this user only: directories 700, files 600.
umask 077
cd "$(dirname "$0")/.."
# honcho gives the processes the settings in .env; read them here too, so that what this script
# derives (REDIS_URL, the Redis config) agrees with what the processes see.
if [ -f .env ]; then set -a; . ./.env; set +a; fi
.venv/bin/python scripts/make_secrets.py var/secrets.env
. scripts/stack_env.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export RASA_TELEMETRY_ENABLED=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2
export ACTIONS_URL="${ACTIONS_URL:-http://127.0.0.1:${ACTIONS_PORT:-5055}}"
export HUB_URL="${HUB_URL:-http://127.0.0.1:${HUB_PORT:-8000}}"
export RASA_URL="${RASA_URL:-http://127.0.0.1:${RASA_PORT:-5005}}"
# RASA_PROCESSES Rasa servers on RASA_PORT, RASA_PORT+1, ... (bot/processes.py); the hub and the model
# watcher reach each of them (RASA_URLS). Settings are checked here, before anything starts.
if [ -z "${RASA_URLS:-}" ]; then
  RASA_URLS="$(.venv/bin/python -c 'import os, sys; from bot.processes import ConfigError, process_urls
try:
    print(",".join(process_urls(os.environ)))
except ConfigError as exc:
    sys.exit(f"rasa: {exc}")')"
  export RASA_URLS
fi
procs="actions rasa hub models ready"
# The analytics writer fills the dashboard's store from the hub's events, unless analytics is off.
case "${ANALYTICS_DB-var/analytics.sqlite}" in
  ""|off|OFF|0|false|no) ;;
  *) procs="$procs analytics" ;;
esac
# The demo order store, if an earlier version created it before the umask above.
for file in "${ORDER_DB:-var/orders.sqlite}" "${ORDER_DB:-var/orders.sqlite}"-wal "${ORDER_DB:-var/orders.sqlite}"-shm; do
  if [ -e "$file" ]; then chmod go-rwx "$file"; fi
done
if [ "${EMBEDDED_REDIS:-}" = 1 ]; then
  export REDIS_DATA_DIR="${REDIS_DATA_DIR:-var/redis}"
  # The password goes into redis.conf (mode 600), never onto redis-server's command line.
  .venv/bin/python scripts/redis_conf.py "$REDIS_DATA_DIR/redis.conf"
  chmod -R go-rwx "$REDIS_DATA_DIR"  # data files written before the umask above
  procs="redis $procs"
fi
.venv/bin/python scripts/preflight.py
exec .venv/bin/honcho --no-colour -f Procfile start $procs
