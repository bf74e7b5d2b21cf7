#!/usr/bin/env bash
# Set everything up and run the main job on its embedded defaults: the IVR server on SQLite
# (var/ivr.db, migrated and seeded with demo customers) with the offline models, on :8080.
# Extra arguments go to `ivr serve` (e.g. --host 0.0.0.0 --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ivr doctor
.venv/bin/ivr db seed
exec .venv/bin/ivr serve "$@"
