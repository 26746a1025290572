#!/usr/bin/env bash
# Creates .venv on Python 3.10 and installs the pinned dependencies (idempotent, quick when done).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt requirements.txt ] && [ "$stamp" -nt constraints.txt ] \
   && [ -f webchat/node_modules/socket.io-client/dist/socket.io.min.js ] \
   && .venv/bin/python -c 'import importlib.util as u, sys; sys.exit(u.find_spec("rasa") is None)' 2>/dev/null; then
  exit 0
fi
PY=$(scripts/find_python.sh)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then
  echo "setup: creating .venv with $PY"
  rm -rf .venv
  "$PY" -m venv .venv
fi
echo "setup: installing pinned dependencies into .venv (first time: about 2 minutes)"
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt 2>&1 \
  | grep -vE '^(WARNING: Location|  DEPRECATION|DEPRECATION)' || true
.venv/bin/python -c 'import rasa_sdk, spacy, sqlalchemy, dotenv, pytest, hypothesis, rasa.version' >/dev/null 2>&1 \
  || { echo "setup: the install failed; see the messages above" >&2; exit 1; }
# The web chat's socket.io client comes from the npm registry (pinned in webchat/package-lock.json).
if [ ! -f webchat/node_modules/socket.io-client/dist/socket.io.min.js ]; then
  command -v npm >/dev/null 2>&1 || { echo "setup: npm is needed for the web chat (apt-get install -y npm)" >&2; exit 1; }
  (cd webchat && npm ci --no-audit --no-fund --loglevel=error)
fi
touch "$stamp"
