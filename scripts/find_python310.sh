#!/usr/bin/env bash
# Prints the path of a working Python 3.10 interpreter (Rasa 3.6 supports Python <= 3.10).
# Search order: PATH, pyenv, uv. A pyenv shim on PATH may exist without working, so each candidate is run.
set -u

works() { [ -n "$1" ] && "$1" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }

if [ -n "${PYTHON310:-}" ]; then
  works "$PYTHON310" && { echo "$PYTHON310"; exit 0; }
  echo "PYTHON310=$PYTHON310 is not a working Python 3.10 interpreter" >&2; exit 1
fi
for c in python3.10 python3 python; do
  p=$(command -v "$c" 2>/dev/null) && works "$p" && { echo "$p"; exit 0; }
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for p in $(ls -d "$root"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V -r); do
    works "$p" && { echo "$p"; exit 0; }
  done
fi
if command -v uv >/dev/null 2>&1; then
  p=$(uv python find 3.10 2>/dev/null) && works "$p" && { echo "$p"; exit 0; }
fi
echo "Python 3.10 not found (needed by Rasa 3.6): install it with 'pyenv install 3.10' or 'uv python install 3.10', or set PYTHON310=/path/to/python3.10" >&2
exit 1
