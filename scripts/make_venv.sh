#!/usr/bin/env bash
# Creates or updates a virtualenv from a pinned requirements file and a lock (constraints) file.
# Usage: make_venv.sh VENV_DIR PYTHON REQUIREMENTS LOCK
# Skips the install when the venv's stamp matches the hash of both files.
set -euo pipefail
venv=$1 python=$2 req=$3 lock=$4
want=$(cat "$req" "$lock" | sha256sum | cut -d' ' -f1)
stamp="$venv/.requirements.sha256"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "==> $venv is up to date"; exit 0
fi
want_ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -x "$venv/bin/python" ]; then
  have_ver=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
  if [ "$have_ver" != "$want_ver" ]; then echo "==> $venv has Python $have_ver, recreating with $want_ver"; rm -rf "$venv"; fi
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv (Python $want_ver)"
  "$python" -m venv "$venv"
fi
echo "==> installing $req into $venv (first time: a few minutes)"
"$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar on -r "$req" -c "$lock"
echo "$want" > "$stamp"
