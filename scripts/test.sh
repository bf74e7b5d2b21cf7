#!/usr/bin/env bash
# Set everything up (system packages, .venv, the project) and run the whole test suite.
# Missing real components (models, espeak-ng, recordings, PostgreSQL) fail the run loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
scripts/services.sh
export IVR_REQUIRE_REAL=1
.venv/bin/ivr doctor --dev
exec .venv/bin/python -m pytest "$@"
