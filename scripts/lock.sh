#!/usr/bin/env bash
# Re-pin constraints.txt: install the project (dev extras included) into a throw-away venv
# with no constraints, the newest releases pyproject.toml allows, and write down every
# version. Run it after changing pyproject.toml's dependencies, then run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PY=$(command -v python3.11 || command -v python3)
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$tmp/venv/bin/python" -m pip install -q -e ".[dev]"
{
  echo "# Exact versions of every package the project installs (dev extras included), so a fresh"
  echo "# install measures what the last one did. scripts/setup.sh installs with -c constraints.txt."
  echo "# Regenerate after changing pyproject.toml: scripts/lock.sh"
  "$tmp/venv/bin/python" -m pip freeze --exclude-editable | grep -v '^-e\|^#'
} > constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages pinned"
