#!/usr/bin/env bash
# The DynamoDB load test (examples/dynamodb-load-test) next to a boto3 script doing the same
# writes (conditional PutItems of the same items, the same share of duplicates, the same
# number in flight), against one moto server on loopback, in one run: items/s and the client's
# CPU-seconds per 10,000 items for each. moto is started here and stopped by its PID.
#
#   bench/loadtest.sh [ITEMS] [CONCURRENCY]   (default 5000 items, 16 in flight)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
items=${1:-5000}
concurrency=${2:-16}
scripts/tools install >/dev/null
tools=${WHARF_TOOLS:-$HOME/.cache/wharf-tools}
echo "building the load test (release, static: the binary its image ships)..." >&2
examples/dynamodb-load-test/build-static.sh

exec "$tools/venv-aws/bin/python" - "$root/examples/dynamodb-load-test/.build/dynamodb-load-test" \
  "$tools/venv-aws/bin/moto_server" "$items" "$concurrency" <<'PY'
import json, os, resource, signal, socket, subprocess, sys, time, urllib.request

program, moto_server, items, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
moto = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(port)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
endpoint = f"http://127.0.0.1:{port}"
env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
           AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
           AWS_EC2_METADATA_DISABLED="true")

BOTO = r'''
import boto3, botocore, concurrent.futures, os, random, sys, threading, time
items, concurrency, table = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cfg = botocore.config.Config(max_pool_connections=concurrency, retries={"mode": "standard", "max_attempts": 12})
ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1", config=cfg)
dups = items * 10 // 100
unique = items - dups
writes = list(range(unique)) + [j * unique // max(dups, 1) for j in range(dups)]
random.shuffle(writes)
payload = "wharf dynamodb load test: a payload of about one hundred bytes, padded to that size ...."
run = f"boto{int(time.time() * 1000)}"
lock = threading.Lock(); tally = {"written": 0, "rejected": 0, "errors": 0}
def put(ik):
    i, k = ik
    try:
        ddb.put_item(TableName=table, Item={"pk": {"S": f"{run}-{k:010}"}, "w": {"N": str(i)}, "payload": {"S": payload}},
                     ConditionExpression="attribute_not_exists(pk)")
        key = "written"
    except ddb.exceptions.ConditionalCheckFailedException:
        key = "rejected"
    except Exception:
        key = "errors"
    with lock:
        tally[key] += 1
start = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(concurrency) as ex:
    list(ex.map(put, enumerate(writes)))
tally["elapsed_s"] = time.monotonic() - start
print(__import__("json").dumps(tally))
'''

def wait_moto():
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    sys.exit("moto never answered")

def create(table):
    subprocess.run([sys.executable, "-c",
        "import boto3,os,sys; boto3.client('dynamodb', endpoint_url=os.environ['AWS_ENDPOINT_URL']).create_table("
        "TableName=sys.argv[1], KeySchema=[{'AttributeName':'pk','KeyType':'HASH'}],"
        "AttributeDefinitions=[{'AttributeName':'pk','AttributeType':'S'}], BillingMode='PAY_PER_REQUEST')", table],
        env=env, check=True)

def measured(cmd, extra):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=dict(env, **extra), capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line), wall, cpu

try:
    wait_moto()
    create("bench-rust"); create("bench-boto3")
    rust, _, rust_cpu = measured([program, "--config-path", "-"], {
        "LOADTEST_TABLE_NAME": "bench-rust", "LOADTEST_TOTAL_ITEMS": str(items),
        "LOADTEST_CONCURRENCY_LIMIT": str(concurrency), "LOADTEST_INJECT_DUPLICATES": "10",
        "LOADTEST_CLEANUP_AFTER_TEST": "false"})
    r = rust["report"]
    boto, _, boto_cpu = measured([sys.executable, "-c", BOTO, str(items), str(concurrency), "bench-boto3"], {})
    assert r["written"] + r["duplicates_rejected"] == items and r["lost"] == 0, r
    assert boto["written"] + boto["rejected"] == items and boto["errors"] == 0, boto
    per = lambda cpu: cpu * 10000 / items
    print(f"DynamoDB load test against moto: {items} items (10% duplicates), {concurrency} in flight")
    print(f"{'client':<22}{'items/s':>10}{'CPU-s / 10k items':>20}{'dups rejected':>16}")
    print(f"{'dynamodb-load-test':<22}{r['items_per_s']:>10.1f}{per(rust_cpu):>20.2f}{r['duplicates_rejected']:>16}")
    print(f"{'boto3 (threads)':<22}{items / boto['elapsed_s']:>10.1f}{per(boto_cpu):>20.2f}{boto['rejected']:>16}")
    print("(moto does the server side for both: items/s measures moto as much as the client;"
          " the CPU column is the client's own.)")
finally:
    moto.send_signal(signal.SIGTERM)
    moto.wait(timeout=10)
PY
