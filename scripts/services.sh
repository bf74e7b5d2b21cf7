#!/usr/bin/env bash
# Make sure the local services the tests use are up: PostgreSQL (127.0.0.1:5432, database
# "test") and Redis (127.0.0.1:6379). Starts them when installed but stopped; fails loudly,
# naming the service, when one cannot be reached.
set -euo pipefail
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! up 5432; then
  if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
    echo "[services] starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do up 5432 && break; sleep 1; done
  fi
fi
up 5432 || { echo "[services] ERROR: PostgreSQL is not reachable on 127.0.0.1:5432 (the store tests need it)" >&2; exit 1; }
echo "[services] PostgreSQL is up on 127.0.0.1:5432"

if ! up 6379; then
  if ! command -v redis-server >/dev/null; then
    echo "[services] installing redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  echo "[services] starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 30); do up 6379 && break; sleep 1; done
fi
up 6379 || { echo "[services] ERROR: Redis is not reachable on 127.0.0.1:6379 (the live-event tests need it)" >&2; exit 1; }
echo "[services] Redis is up on 127.0.0.1:6379"
