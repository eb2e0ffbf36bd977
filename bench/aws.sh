#!/usr/bin/env bash
# AWS benchmarks, printed figures (not timed tests):
#  1. per strategy, a v1 -> v2 deployment of a two-task service: the modeled critical path
#     with wharf's defaults next to ECS's and the ALB's defaults (the engine on the simulated
#     target, crates/wharf-engine/examples/critical_path.rs);
#  2. per strategy, the AWS API calls `wharf deploy` sends for v1 -> v2 against the moto server
#     (counted by a recording proxy on loopback), with its wall time;
#  3. `ecs deploy` (PyPI package ecs-deploy) and `wharf deploy` (rolling) against the same moto
#     server, side by side in one run: wall time and API calls.
# Loopback only: moto and the proxy are started here and stopped by their PIDs at exit.
#
#   bench/aws.sh                       (release build)
#   WHARF_BENCH_PROFILE=debug bench/aws.sh   (reuse the test build; API counts are the same)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/tools install >/dev/null
tools=${WHARF_TOOLS:-$HOME/.cache/wharf-tools}
venv="$tools/venv-bench"
if [ ! -x "$venv/bin/ecs" ]; then
  echo "installing ecs-deploy into $venv..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q ecs-deploy
fi

profile=${WHARF_BENCH_PROFILE:-release}
flag=--release
[ "$profile" = debug ] && flag=
echo "building wharf ($profile)..." >&2
cargo build -q $flag -p wharf-cli
cargo build -q $flag -p wharf-engine --example critical_path

echo
"$root/target/$profile/examples/critical_path"
echo

exec "$tools/venv-aws/bin/python" - "$root/target/$profile/wharf" "$tools/venv-aws/bin/moto_server" "$venv/bin/ecs" <<'PY'
import collections, http.client, http.server, json, os, re, signal, socket, subprocess
import sys, tempfile, threading, time

import boto3

wharf, moto_bin, ecs_bin = sys.argv[1:4]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

moto_port = free_port()
moto = subprocess.Popen([moto_bin, "-H", "127.0.0.1", "-p", str(moto_port)],
                        env={**os.environ, "MOTO_ECS_SERVICE_RUNNING": "2"},
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
proxy = None
work = tempfile.mkdtemp(prefix="wharf-bench-aws-")

def stop():
    if proxy:
        proxy.shutdown()
    moto.send_signal(signal.SIGTERM)
    try:
        moto.wait(10)
    except subprocess.TimeoutExpired:
        moto.kill()
    subprocess.run(["rm", "-rf", work])

try:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", moto_port), 0.2).close(); break
        except OSError:
            time.sleep(0.1)

    calls = collections.Counter()
    lock = threading.Lock()

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def do_POST(self): self.relay()
        def do_GET(self): self.relay()
        def relay(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
            target = self.headers.get("x-amz-target")
            if target:
                op = target.rsplit(".", 1)[-1]
            else:
                m = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body)
                op = m.group(1).decode() if m else self.command + " " + self.path.split("?")[0]
            with lock:
                calls[op] += 1
            c = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            c.request(self.command, self.path, body, headers)
            r = c.getresponse(); data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers(); self.wfile.write(data)

    proxy_port = free_port()
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", proxy_port), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{proxy_port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": os.path.join(work, "none"),
           "AWS_SHARED_CREDENTIALS_FILE": os.path.join(work, "none"),
           # The deployment's own calls: the preflight (its reads, once per deploy) is left out,
           # and its egress check would refuse moto's VPC with images outside ECR anyway.
           "WHARF_SKIP_PREFLIGHT": "1"}
    env.pop("AWS_PROFILE", None)

    services = {
        "rolling": ("rolling", ""),
        "canary": ("canary", 'canary = { percent = 10, bake = "1s" }'),
        "linear": ("linear", 'linear = { step = 50, interval = "1s" }'),
        "bluegreen": ("blue-green", 'blue_green = { bake = "1s" }'),
        "affinity": ("affinity", 'rollback = { window = "1s" }'),
    }
    def manifest(version):
        out = ['[app]\nname = "pulse"\n[environments.test]\ntarget = "aws"\nregion = "us-east-1"\n'
               'account = "123456789012"\nazs = 2\negress = "endpoints"\n']
        for i, (svc, (strategy, params)) in enumerate(services.items(), start=1):
            out.append(f'[services.{svc}]\nimage = "registry.example/pulse/{svc}:{version}"\nport = 8000\n'
                       f'count = 2\nrouting = {{ paths = ["/{svc}/*"], priority = {i} }}\n'
                       f'[services.{svc}.deploy]\nstrategy = "{strategy}"\n{params}\n')
        with open(os.path.join(work, "wharf.toml"), "w") as f:
            f.write("".join(out))

    def run(args, counted=True):
        with lock:
            calls.clear()
        t = time.monotonic()
        p = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True)
        wall = time.monotonic() - t
        if p.returncode != 0:
            sys.exit(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        with lock:
            return wall, sum(calls.values()), collections.Counter(calls)

    manifest(1)
    run([wharf, "-q", "--env", "test", "up"])
    # moto's ExecuteChangeSet never evaluates Outputs; its UpdateStack does.
    cfn = boto3.client("cloudformation", endpoint_url=f"http://127.0.0.1:{moto_port}",
                       region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    body = cfn.get_template(StackName="pulse-test-baseline")["TemplateBody"]
    cfn.update_stack(StackName="pulse-test-baseline",
                     TemplateBody=body if isinstance(body, str) else json.dumps(body))
    run([wharf, "-q", "--env", "test", "deploy"])

    manifest(2)
    print("AWS API calls of `wharf deploy SERVICE` for v1 -> v2 of a two-task service, moto server, bakes 1 s")
    print(f"{'strategy':<11} {'API calls':>9} {'wall':>8}   calls, most frequent first")
    for svc, (strategy, _) in services.items():
        wall, n, ops = run([wharf, "-q", "--env", "test", "deploy", svc])
        every = ", ".join(f"{op} {c}" for op, c in ops.most_common())
        print(f"{strategy:<11} {n:>9} {wall:>7.2f}s   {every}")

    print()
    print("`ecs deploy` (ecs-deploy) vs `wharf deploy` (rolling), same moto server, one run each")
    # ecs-deploy waits for tasks RUNNING with the new task definition (ListTasks/DescribeTasks);
    # moto starts no tasks, so that wait never ends there: it runs with --timeout -1 (register
    # and update, then return). wharf waits for the rollout and running counts moto reports.
    print("(ecs deploy with --timeout -1: it does not wait for the rollout; wharf waits for it)")
    ecs_wall, ecs_n, ecs_ops = run([ecs_bin, "deploy", "pulse-test", "rolling",
                                    "--image", "rolling", "registry.example/pulse/rolling:3",
                                    "--timeout", "-1"])
    manifest(4)
    w_wall, w_n, w_ops = run([wharf, "-q", "--env", "test", "deploy", "rolling"])
    print(f"{'tool':<14} {'wall':>8} {'API calls':>10}   calls")
    for name, wall, n, ops in [("ecs deploy", ecs_wall, ecs_n, ecs_ops), ("wharf deploy", w_wall, w_n, w_ops)]:
        print(f"{name:<14} {wall:>7.2f}s {n:>10}   " + ", ".join(f"{op} {c}" for op, c in sorted(ops.items())))
finally:
    stop()
PY
