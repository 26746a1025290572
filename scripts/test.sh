#!/usr/bin/env bash
# Sets up, builds and trains when stale, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/train.sh
export TF_CPP_MIN_LOG_LEVEL=3
exec .venv/bin/python -m pytest tests/ -q -p no:cacheprovider "$@"
