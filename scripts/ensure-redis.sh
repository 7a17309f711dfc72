#!/usr/bin/env bash
# Make sure a Redis answers on 127.0.0.1:6379, starting (or installing) one if needed.
set -euo pipefail
ping_redis() {
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG
  else
    python3 - <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", 6379), timeout=1)
    s.sendall(b"PING\r\n"); sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
  fi
}
if ping_redis; then echo "redis: reachable"; exit 0; fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis: not installed, installing redis-server"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null
fi
mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
  --dir /tmp --logfile /tmp/salesflow-redis.log
for _ in $(seq 1 100); do
  if ping_redis; then echo "redis: started"; exit 0; fi
  sleep 0.1
done
echo "redis: could not be started" >&2
exit 1
