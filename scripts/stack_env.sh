# Sourced (not run) by scripts/run.sh, and by anything else that must reach the running stack:
#   set -a; . scripts/stack_env.sh; set +a
# Loads the generated secrets (var/secrets.env) and, unless REDIS_URL is set, points REDIS_URL at the
# embedded Redis with its password. A REDIS_URL of your own is left exactly as it is.
# Secrets stay in the environment and in files: none is put on a command line.
if [ ! -r var/secrets.env ]; then
  echo "error: var/secrets.env is missing (scripts/run.sh creates it)" >&2
  return 1
fi
set -a
. var/secrets.env
set +a
if [ -z "${REDIS_URL:-}" ]; then
  # REDIS_PASSWORD uses URL-safe characters only (scripts/redis_conf.py checks), so no escaping here.
  export EMBEDDED_REDIS=1 REDIS_URL="redis://:${REDIS_PASSWORD}@127.0.0.1:${REDIS_PORT:-6379}/0"
else
  export EMBEDDED_REDIS=0
fi
