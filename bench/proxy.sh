#!/usr/bin/env bash
# Proxy benchmark: requests per second and p50/p99 latency with wrk, against the hello backend
# directly, through wharf's proxy, and through nginx as a reverse proxy to the same backend,
# side by side in one run, in three shapes: keepalive connections and a small answer (the
# hello JSON), a new connection per request (`Connection: close`), and a 1 MiB answer.
# Loopback only; every process it starts is stopped by its PID.
#
#   bench/proxy.sh [DURATION_SECONDS] [CONNECTIONS]
#   WHARF_BEFORE=/path/to/older/wharf bench/proxy.sh   (adds the older proxy, same run)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-64}

WHARF_DEBS="wrk nginx-light" scripts/tools install
command -v wrk >/dev/null && command -v nginx >/dev/null

echo "building release binaries..." >&2
# The proxy needs no AWS target: the release build leaves the SDK crates out.
cargo build -q --release -p wharf-cli -p hello --no-default-features
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

backend=$(free_port); proxy=$(free_port); nginx_port=$(free_port)

PORT=$backend DEPLOYMENT_ID=bench target/release/hello >"$work/hello.log" 2>&1 &
pids+=($!)
wait_port "$backend"

start_wharf() { # binary state_dir port
  "$1" local serve --state-dir "$2" --listen "127.0.0.1:$3" >"$2.log" 2>&1 &
  pids+=($!)
  wait_port "$3"
  python3 - "$2/proxy.sock" "$backend" <<'PY'
import json, socket, sys
sock, backend = sys.argv[1], int(sys.argv[2])
cfg = {"target_groups": [{"name": "bench", "deployment": "bench", "targets": [f"127.0.0.1:{backend}"],
        "health": {"path": "/_health", "interval_ms": 1000, "timeout_ms": 500, "healthy": 2, "unhealthy": 2, "matcher": "200"},
        "deregistration_delay_ms": 1000}],
       "rules": [{"priority": 199, "paths": ["/*"], "forward": [["bench", 100]]}]}
s = socket.socket(socket.AF_UNIX); s.connect(sock)
s.sendall((json.dumps({"op": "apply", "config": cfg}) + "\n").encode()); print(s.recv(4096).decode().strip(), file=sys.stderr)
PY
}
start_wharf target/release/wharf "$work/wharf" "$proxy"
# WHARF_BEFORE=path/to/an/older/wharf adds its proxy to the same run, for a before/after.
if [ -n "${WHARF_BEFORE:-}" ]; then
  before=$(free_port)
  start_wharf "$WHARF_BEFORE" "$work/wharf-before" "$before"
fi
sleep 3 # two health checks a second apart

mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  # Both proxies write an access log, buffered (wharf: a JSON line per request).
  access_log $work/nginx/logs/access.log combined buffer=64k flush=1s;
  upstream backend { server 127.0.0.1:$backend; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$work/nginx.log" 2>&1 &
pids+=($!)
wait_port "$nginx_port"

run() { # name port [path [wrk args...]]
  local name=$1 port=$2 path=${3:-/}
  shift 2; shift $(( $# > 0 ? 1 : 0 ))
  local out
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency "$@" "http://127.0.0.1:$port$path" 2>&1)
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  printf '%-8s %12s %10s %10s  %s\n' "$name" "$rps" "$p50" "$p99" "${errors:-no errors}"
}
shape() { # title path [wrk args...]
  echo
  echo "$1: wrk -t2 -c$connections -d${duration}s, hello backend, $(nproc) cores"
  printf '%-8s %12s %10s %10s\n' "path" "requests/s" "p50" "p99"
  run direct "$backend" "${@:2}"
  # The older proxy first: a later run on a warmer machine is not the faster for it.
  [ -z "${WHARF_BEFORE:-}" ] || run before "$before" "${@:2}"
  run wharf "$proxy" "${@:2}"
  run nginx "$nginx_port" "${@:2}"
}
shape "keepalive, small answer" /
shape "a new connection per request" / -H "Connection: close"
shape "1 MiB answer" "/bytes?n=1048576"
