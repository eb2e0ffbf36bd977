#!/usr/bin/env bash
# Cutover benchmark: time from `wharf deploy` (image already built) to all traffic on the new
# version, per strategy with zero bake, on the local target (real Docker, wharf's proxy), next
# to the sum of the waits no tool can avoid: starting the containers and the health checks the
# manifest asks for (`healthy` consecutive passes `interval` apart), once per batch that waits
# for health. The difference is the engine's own overhead. Loopback only; everything it
# creates is labelled and removed (`wharf down`, the image, the probe container).
#
#   bench/cutover.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
root=$(pwd)

echo "building release binaries and the hello image..." >&2
cargo build -q --release -p wharf-cli
examples/hello/build-static.sh >/dev/null
image="wharf-bench/hello:cutover"
docker build -q --label wharf.app=bench-cutover -t "$image" examples/hello >/dev/null

work=$(mktemp -d)
cleanup() {
  for d in "$work"/*/; do
    [ -f "$d/wharf.toml" ] && (cd "$d" && "$root/target/release/wharf" down --env local -q >/dev/null 2>&1 || true)
  done
  docker rm -f wharf-bench-probe >/dev/null 2>&1 || true
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

exec python3 - "$root/target/release/wharf" "$image" "$work" "$rounds" <<'PY'
import json, os, socket, statistics, subprocess, sys, time, urllib.request

wharf, image, work, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
INTERVAL_S, HEALTHY, COUNT = 5, 2, 2

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def container_start():
    """docker run to the first passing health check of one hello container."""
    t0 = time.monotonic()
    cid = subprocess.check_output(["docker", "run", "-d", "--rm", "--name", "wharf-bench-probe",
        "--label", "wharf.app=bench-cutover", "-e", "DEPLOYMENT_ID=probe",
        "-p", "127.0.0.1::8000", image], text=True).strip()
    try:
        port = subprocess.check_output(["docker", "port", cid, "8000/tcp"], text=True)
        port = int(port.split("\n")[0].rsplit(":", 1)[1])
        while time.monotonic() - t0 < 30:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_health", timeout=1).status == 200:
                    return time.monotonic() - t0
            except OSError:
                time.sleep(0.005)
        raise SystemExit("the probe container never answered")
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)

PARAMS = {
    "rolling": 'rolling = { min_healthy_percent = 50, max_percent = 100 }',
    "canary": 'canary = { percent = 10, bake = "0s" }',
    "linear": 'linear = { step = 50, interval = "0s" }',
    "blue-green": 'blue_green = { bake = "0s" }',
    "affinity": 'rollback = { window = "1s" }  # the watch after the switch',
}

def manifest(strategy, port, version):
    return f'''[app]
name = "bench-{strategy}"
[environments.local]
target = "local"
listen = "127.0.0.1:{port}"
secrets_file = "local.secrets"
[services.web]
image = "{image}"
port = 8000
count = {COUNT}
stop_timeout = "5s"
env = {{ HELLO_VERSION = "{version}" }}
health = {{ path = "/_health", interval = "{INTERVAL_S}s", healthy = {HEALTHY} }}
[services.web.deploy]
strategy = "{strategy}"
{PARAMS[strategy]}
drain = {{ secret = "ssm:/bench/drain", timeout = "1s" }}
'''

def deploy(d, timed):
    t0 = time.monotonic()
    p = subprocess.Popen([wharf, "deploy", "--env", "local", "--output", "json"], cwd=d,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    new, waits, all_on_new = None, 0, None
    for line in p.stdout:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "started":
            new = e["id"]
            waits = sum(1 for s in e["steps"] if s.startswith(("wait for", "scale new")))
        elif e.get("event") == "weights" and new and all_on_new is None:
            if [new, 100] in e["weights"]:
                all_on_new = time.monotonic() - t0
    if p.wait() != 0:
        raise SystemExit(f"wharf deploy failed in {d}")
    return all_on_new, waits, time.monotonic() - t0

starts = sorted(container_start() for _ in range(3))
start = statistics.median(starts)
print(f"\ncontainer start (docker run to first 200 on /_health), median of 3: {start*1000:.0f} ms")
print(f"health checks: {HEALTHY} passes {INTERVAL_S}s apart (interval 5s is the minimum the manifest allows);"
      f" {COUNT} tasks; zero bake; {os.cpu_count()} cores\n")
print(f"{'strategy':<11} {'all traffic on new':>19} {'unavoidable':>12} {'overhead':>9} {'command':>9}  batches")
for strategy in PARAMS:
    d = os.path.join(work, strategy); os.makedirs(d)
    open(os.path.join(d, "local.secrets"), "w").write("ssm:/bench/drain=bench\n")
    port = free_port()
    open(os.path.join(d, "wharf.toml"), "w").write(manifest(strategy, port, "1"))
    deploy(d, False)
    results = []
    for r in range(rounds):
        open(os.path.join(d, "wharf.toml"), "w").write(manifest(strategy, port, str(r + 2)))
        results.append(deploy(d, True))
    cut = statistics.median(r[0] for r in results)
    total = statistics.median(r[2] for r in results)
    waits = results[0][1]
    floor = waits * (start + (HEALTHY - 1) * INTERVAL_S)
    print(f"{strategy:<11} {cut:>18.2f}s {floor:>11.2f}s {cut-floor:>8.2f}s {total:>8.2f}s  {waits}")
    subprocess.run([wharf, "down", "--env", "local", "-q"], cwd=d, capture_output=True)
print("\nall traffic on new: from starting `wharf deploy` to the proxy sending 100% to it;"
      "\nunavoidable: batches x (container start + (healthy-1) x interval); command: until"
      " `wharf deploy` exits (includes retiring the old version)")
PY
