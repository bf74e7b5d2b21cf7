#!/usr/bin/env bash
# Set everything up and run the main job on its embedded defaults (SQLite, offline models).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/ivr demo "$@"
