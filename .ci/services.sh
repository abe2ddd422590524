#!/usr/bin/env bash
# Start Redis and PostgreSQL when they are installed but not running; wait until they answer.
# The start commands are the ones this machine kind documents for its preinstalled services.
set -u

wait_for() {  # wait_for NAME CMD...: bounded wait on a readiness check
  local name=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "services: $name did not become ready" >&2; return 1
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }
if command -v redis-server >/dev/null 2>&1; then
  if ! redis_up 2>/dev/null; then
    echo "services: starting redis-server"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for redis redis_up || exit 1
  fi
else
  echo "services: redis-server is not installed (tests that need Redis will fail)" >&2
fi

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
if command -v pg_ctlcluster >/dev/null 2>&1; then
  if ! pg_up 2>/dev/null; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    wait_for postgresql pg_up || exit 1
  fi
elif ! pg_up 2>/dev/null; then
  echo "services: PostgreSQL is not installed (tests that need it will fail)" >&2
fi
exit 0
