#!/usr/bin/env bash
# Idempotent set-up: system packages (apt-get), a Python 3.11 virtual environment in .venv,
# and this project installed into it (editable). Safe to run again: it only does what is missing.
#
#   scripts/setup.sh            # what the service needs
#   scripts/setup.sh --dev      # plus what the tests need (recordings, browser, dev tools)
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "not root and no sudo: install the packages listed below by hand"
  SUDO="sudo"
fi

# --- system packages -------------------------------------------------------------------------
APT_PKGS=(espeak-ng libespeak-ng1 python3-venv)
if [[ $DEV -eq 1 ]]; then
  APT_PKGS+=(asterisk-core-sounds-en-wav sox chromium)
fi
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
PY=""
for cand in python3.11 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2]==(3,11) else 1)'; then
    PY=$(command -v "$cand"); break
  fi
done
[[ -z "$PY" ]] && missing+=(python3.11 python3.11-venv)
if [[ ${#missing[@]} -gt 0 ]]; then
  say "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[[ -z "$PY" ]] && PY=$(command -v python3.11)
[[ -n "$PY" ]] || die "Python 3.11 is required and could not be installed"

# --- virtual environment -----------------------------------------------------------------------
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $PY"
  "$PY" -m venv .venv
fi
EXTRAS=""
stamp=".venv/.installed"
if [[ $DEV -eq 1 ]]; then
  EXTRAS="[dev]"
  stamp=".venv/.installed-dev"
fi
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
installed() { [[ -f "$1" && "$(cat "$1")" == "$want" ]]; }
# a dev install (tests) already holds everything the service needs
dev_covers=0
if [[ $DEV -eq 0 ]] && installed .venv/.installed-dev; then dev_covers=1; fi
if ! installed "$stamp" && [[ $dev_covers -eq 0 ]]; then
  say "installing the project into .venv (pip install -e .$EXTRAS, versions from constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".$EXTRAS" -c constraints.txt
  echo "$want" > "$stamp"
fi
say "ready: $(.venv/bin/python --version), espeak-ng $(espeak-ng --version | awk '{print $4}')"
