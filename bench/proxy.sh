#!/usr/bin/env bash
# Proxy benchmark: requests per second, p50/p99 latency (wrk) and the proxy's CPU time per
# request (user + system, from /proc), against the hello backend directly, through wharf's
# proxy, and through nginx as a reverse proxy to the same backend, side by side in one run, in
# three shapes: keepalive connections and a small answer (the hello JSON), a new connection per
# request (`Connection: close`), and a 1 MiB answer. The paths take turns for ROUNDS rounds
# and each figure is the median of its rounds: on a shared virtual machine one measurement
# moves by a quarter between minutes, turns and medians keep the comparison fair. CPU time per
# request is the steadiest of the figures. Loopback only; every process it starts is stopped
# by its PID.
#
#   bench/proxy.sh [DURATION_SECONDS] [CONNECTIONS]      (ROUNDS=3 by default)
#   WHARF_BEFORE=/path/to/older/wharf bench/proxy.sh   (adds the older proxy, same run)
#   SHAPES=close,1mib bench/proxy.sh                   (some shapes: keepalive, close, 1mib)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
connections=${2:-64}
rounds=${ROUNDS:-3}

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
backend_pid=$!
wait_port "$backend"

start_wharf() { # binary state_dir port
  "$1" local serve --state-dir "$2" --listen "127.0.0.1:$3" >"$2.log" 2>&1 &
  pids+=($!)
  started_pid=$!
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
wharf_pid=$started_pid
# WHARF_BEFORE=path/to/an/older/wharf adds its proxy to the same run, for a before/after.
if [ -n "${WHARF_BEFORE:-}" ]; then
  before=$(free_port)
  start_wharf "$WHARF_BEFORE" "$work/wharf-before" "$before"
  before_pid=$started_pid
fi
sleep 3 # two health checks a second apart

mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  # nginx does the same job as wharf's proxy: the same access line (JSON, the same fields,
  # buffered and flushed every second), the same fields added for the target (ALB's
  # X-Forwarded-For/-Proto/-Port and a request id, also returned to the client), kept
  # connections to the target.
  log_format wharf escape=json '{"request_id":"\$request_id","client":"\$remote_addr:\$remote_port",'
    '"method":"\$request_method","host":"\$host","path":"\$uri","status":\$status,'
    '"target_group":"bench","target":"\$upstream_addr","duration_s":\$request_time}';
  access_log $work/nginx/logs/access.log wharf buffer=64k flush=1s;
  upstream backend { server 127.0.0.1:$backend; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Port \$server_port;
      proxy_set_header X-Request-Id \$request_id;
      add_header X-Request-Id \$request_id always;
    }
  }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$work/nginx.log" 2>&1 &
pids+=($!)
nginx_pid=$!
wait_port "$nginx_port"

# CPU ticks (user, system) of a process and its children (nginx's workers).
ticks() {
  local u=0 k=0 p a b
  for p in "$1" $(pgrep -P "$1"); do
    read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat")
    u=$((u + a)); k=$((k + b))
  done
  echo "$u $k"
}
tick=$(getconf CLK_TCK)

measure() { # pid port path [wrk args...]: one line "rps p50_ms p99_ms cpu_us_per_request"
  local pid=$1 port=$2 path=$3 out u0 k0 u1 k1
  shift 3
  read -r u0 k0 < <(ticks "$pid")
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency "$@" "http://127.0.0.1:$port$path" 2>&1)
  read -r u1 k1 < <(ticks "$pid")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "errors on $port: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')" >&2
  fi
  python3 - "$out" "$((u1 - u0 + k1 - k0))" "$tick" <<'PY'
import re, sys
out, ticks, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def ms(label):
    m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % label, out, re.M)
    v = float(m.group(1)); return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
total = int(re.search(r"(\d+) requests in", out).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
print(rps, ms("50%"), ms("99%"), ticks / hz * 1e6 / max(total, 1))
PY
}

shape() { # title path [wrk args...]
  local names=(direct) ports=("$backend") procs=("$backend_pid") r i
  # The older proxy first: a later turn on a warmer machine is not the faster for it.
  if [ -n "${WHARF_BEFORE:-}" ]; then names+=(before); ports+=("$before"); procs+=("$before_pid"); fi
  names+=(wharf nginx); ports+=("$proxy" "$nginx_port"); procs+=("$wharf_pid" "$nginx_pid")
  for r in $(seq "$rounds"); do
    for i in "${!names[@]}"; do
      echo "${names[$i]} $(measure "${procs[$i]}" "${ports[$i]}" "${@:2}")"
    done
  done >"$work/shape"
  echo
  echo "$1: wrk -t2 -c$connections -d${duration}s, median of $rounds rounds, hello backend, $(nproc) cores"
  python3 - "$work/shape" "${names[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print("%-8s %12s %9s %9s %16s" % ("path", "requests/s", "p50", "p99", "CPU us/request"))
for name in sys.argv[2:]:
    mine = [list(map(float, r[1:])) for r in rows if r[0] == name]
    med = [statistics.median(c) for c in zip(*mine)]
    print("%-8s %12.0f %7.2fms %7.2fms %16.1f" % (name, *med))
PY
}
shapes=",${SHAPES:-keepalive,close,1mib},"
[[ $shapes == *,keepalive,* ]] && shape "keepalive, small answer" /
[[ $shapes == *,close,* ]] && shape "a new connection per request" / -H "Connection: close"
[[ $shapes == *,1mib,* ]] && shape "1 MiB answer" "/bytes?n=1048576"
true
