#!/usr/bin/env bash
# Make sure the local services the tests use are up (PostgreSQL 127.0.0.1:5432, database "test").
# Starts the Debian cluster when it is installed but stopped; fails loudly when it is absent.
set -euo pipefail
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
    echo "[services] starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
fi
pg_up || { echo "[services] ERROR: PostgreSQL is not reachable on 127.0.0.1:5432 (the store tests need it)" >&2; exit 1; }
echo "[services] PostgreSQL is up on 127.0.0.1:5432"
