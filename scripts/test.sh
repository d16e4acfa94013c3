#!/usr/bin/env bash
# The whole test suite on real PostgreSQL and Redis (127.0.0.1), plus lint, types and layering.
# Starts PostgreSQL/Redis if they are down, installs Chromium for the browser tests if missing, and the
# browser packages of package.json (axe-core for the accessibility audit) with npm.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
.venv/bin/pybabel compile --use-fuzzy -d app/translations >/dev/null 2>&1 || true
. scripts/pdf-deps.sh
if [ -f package.json ]; then
  command -v npm >/dev/null || { echo "npm is missing (the browser packages in package.json need it): sudo apt-get install npm" >&2; exit 3; }
  npm ci --no-audit --no-fund --loglevel=error
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  echo "PostgreSQL is down on 127.0.0.1:5432; starting it"
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 30); do port_open 5432 && break; sleep 1; done
  port_open 5432 || { echo "Could not start PostgreSQL: start it on 127.0.0.1:5432 with trust auth for user postgres." >&2; exit 3; }
fi
if ! port_open 6379; then
  echo "Redis is down on 127.0.0.1:6379; starting it"
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  fi
  for _ in $(seq 20); do port_open 6379 && break; sleep 1; done
  port_open 6379 || { echo "Could not start Redis: run 'redis-server --port 6379' on 127.0.0.1." >&2; exit 3; }
fi
if ! command -v chromium >/dev/null; then
  echo "Installing Debian chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
      || echo "chromium could not be installed; browser tests will fail" >&2
  else
    echo "chromium is missing: sudo apt-get install chromium" >&2
  fi
fi

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/pytest -q "$@"
