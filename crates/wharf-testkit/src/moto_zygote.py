# The moto servers' parent, for the tests (`moto.rs` starts it): imports moto, the backends the
# tests use and boto3 once, warms them with one call each, then serves on an abstract Unix
# socket and forks for each request a fresh server (`server`) or a boto3 script (`boto3 LEN`).
# A test process that started moto itself spent 3 s of CPU on imports and first calls, a boto3
# script 0.8 s: here each is a fork. The abstract socket's name is the lock (one parent per
# name, gone with it) and the parent exits after IDLE seconds without a request; a server
# exits when the test process that asked for it closes its end, killed or not.
#
#   python moto_zygote.py NAME IDLE

import os
import random
import signal
import socket
import sys
import threading
import time

NAME, IDLE = sys.argv[1], float(sys.argv[2])

listener = socket.socket(socket.AF_UNIX)
try:
    listener.bind("\0" + NAME)
except OSError:
    print("taken", flush=True)  # another parent serves this name
    sys.exit(0)
listener.listen(128)

# Requests queue in the backlog while this imports and warms.
import boto3  # noqa: E402
from moto.moto_api._internal import mock_random  # noqa: E402
from moto.moto_api._internal.models import moto_api_backend  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

app = DomainDispatcherApplication(create_backend_app)
app.debug = True  # as moto_server sets it

# One harmless call per service the tests use: imports its backend, builds its routes and
# loads boto3's model of it.
WARM = [
    ("acm", "list_certificates"),
    ("application-autoscaling", "describe_scalable_targets", {"ServiceNamespace": "ecs"}),
    ("cloudformation", "list_stacks"),
    ("cloudwatch", "describe_alarms"),
    ("dynamodb", "list_tables"),
    ("ec2", "describe_vpcs"),
    ("ecr", "describe_repositories"),
    ("ecs", "list_clusters"),
    ("elbv2", "describe_load_balancers"),
    ("events", "list_rules"),
    ("iam", "list_roles"),
    ("kms", "list_keys"),
    ("logs", "describe_log_groups"),
    ("rds", "describe_db_instances"),
    ("route53", "list_hosted_zones"),
    ("s3", "list_buckets"),
    ("scheduler", "list_schedules"),
    ("secretsmanager", "list_secrets"),
    ("sns", "list_topics"),
    ("sqs", "list_queues"),
    ("ssm", "describe_parameters"),
    ("sts", "get_caller_identity"),
]


def warm():
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    for service, operation, *args in WARM:
        client = boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        try:
            getattr(client, operation)(**(args[0] if args else {}))
        except Exception:  # warming only: a failed call still imported what it needed
            pass
    server.shutdown()
    thread.join()
    server.server_close()
    moto_api_backend.reset()
    # A fork copies only the thread that calls it: none other may hold a lock then.
    deadline = time.monotonic() + 10
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.01)


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        more = conn.recv(n - len(data))
        if not more:
            raise EOFError
        data += more
    return data


def serve(conn):
    """In the child: a fresh server, its port and PID sent back, until the asker closes."""
    os.environ["MOTO_PORT"] = "0"  # as `moto_server -p 0` leaves it
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.sendall(f"{server.server_port} {os.getpid()}\n".encode())
    while conn.recv(4096):
        pass
    os._exit(0)


def script(conn, length):
    """In the child: runs a boto3 script, sends back its exit code, stdout and stderr."""
    import contextlib
    import io
    import traceback

    source = read_exactly(conn, length).decode()
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            exec(compile(source, "<boto3 script>", "exec"), {"__name__": "__main__"})
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    o, e = out.getvalue().encode(), err.getvalue().encode()
    conn.sendall(f"{code} {len(o)} {len(e)}\n".encode() + o + e)
    os._exit(0)


def child(conn):
    conn.settimeout(None)  # blocking: a server waits on it as long as its test runs
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # Every child would otherwise make the same resource ids.
    mock_random.seed()
    random.seed()
    try:
        line = b""
        while not line.endswith(b"\n"):
            more = conn.recv(1)
            if not more:
                os._exit(0)
            line += more
        words = line.decode().split()
        if words == ["server"]:
            serve(conn)
        elif len(words) == 2 and words[0] == "boto3":
            script(conn, int(words[1]))
        conn.sendall(b"error: an unknown request: " + line)
    except Exception:
        import traceback

        try:
            conn.sendall(("error: " + traceback.format_exc()).encode())
        except Exception:
            pass
    os._exit(1)


warm()
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
print("ready", flush=True)
devnull = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(devnull, fd)  # the starting test may end before this parent does
listener.settimeout(IDLE)
while True:
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        sys.exit(0)
    if os.fork() == 0:
        listener.close()
        child(conn)
    conn.close()
