#!/usr/bin/env python3
"""vpcgate benchmark (`make bench`): N GatewayEndpoints against the AWS emulator on a real local
control plane. A measurement, not a test: it never fails on a number, only when the harness itself
cannot measure (exit 1: a run broke; 130: interrupted).

Each run starts from a clean world: a fresh control plane (tests/cluster/cluster.sh, state in
.cache/bench/cluster), a fresh emulator with K VPCs and N route tables, a fresh operator process.
Phases: apply all N objects (one server-side `kubectl apply`) -> all Ready -> wait one resync ->
steady window of STEADY seconds (unthrottled runs; a throttled run measures creation and deletion
only) -> [PROBE=both, first run of each N: switch probing on, all Ready at the new generation,
wait one resync, a second steady window] -> delete all -> all gone.

Parameters (flag, else environment variable, else default):
  --n / N                   object counts, e.g. "50 200 1000" (one run set per N)   [200]
  --k / K                   VPCs; objects spread round-robin, each on its own route table [1]
  --resync / RESYNC         operator --resync                                       [60s]
  --concurrency / CONCURRENCY  operator --concurrency                               [4]
  --steady / STEADY         seconds of each steady window                           [120]
  --throttle / THROTTLE     on | off | both (off first)                             [both]
  --probe / PROBE           off | on | both (objects created with probing off; the first run
                            of each N adds a probe-on steady window)                [both]
  --view-ttl / VIEW_TTL     operator --aws-view-ttl, passed when the binary has it  [30s]
  --bin / VPCGATE_BENCH_BIN operator binary; default: the release binary built as
                            tests/docker/test.sh builds it (target/docker)
Throttle on: the emulator's /vpcgate-throttle/ buckets for Create/Modify/DeleteVpcEndpoint(s)
get capacity 4 and refill r = max(0.3, (N-4)/60)/s (so N creates take about a minute; the other
buckets keep AWS's sizes), and the operator, when it has the flags, --endpoint-mutation-burst 3
--endpoint-mutation-rate 0.95r. Throttle off: no emulator buckets and, when the operator has the
flags, --endpoint-mutation-rate 0 (its own pacing off; by default it paces at about AWS's rate).

Columns (one row per steady window; the probe-on window of PROBE=both is a row of its own, with
"-" in the columns of creation and deletion):
  ready_s      apply start -> first poll (every 0.5 s) seeing all N objects Ready=True
  /floor       ready_s / mutation-bucket floor, floor = max(0, N-4)/r (throttle on only)
  flaps        Ready True->not True transitions seen from apply (probe row: from the switch) to
               the end of the row's window; a new lastTransitionTime while True counts too
  warn         Warning events (occurrences, series counted) about this run's objects, whole run
  mut/ep       ec2 Create/Modify/DeleteVpcEndpoint(s) + CreateTags + DeleteTags calls from
               apply to the start of the first steady window, / N
  desc/obj/rs  ec2 Describe*/Get* calls in the steady window / N / (window_s / resync_s)
  gwe_w/obj/h  kube-apiserver writes (POST/PUT/PATCH/APPLY/DELETE) to gatewayendpoints (any
               subresource) in the steady window, per object per hour
  ev_w/obj/h   the same for events (core and events.k8s.io)
  st_w/obj/h   vpcgate_status_writes_total in the steady window, per object per hour
  rss_MiB      operator VmHWM (peak RSS) at the end of the window
  cpu_s        operator CPU seconds (utime+stime) spent in the steady window
  emu_cpu_s    emulator CPU seconds spent in the steady window
  del_s        `kubectl delete --all --wait=false` -> first poll (0.5 s) seeing no object left
  del/ep       ec2 DeleteVpcEndpoints calls during deletion / N
Operator call counts come from its /metrics (vpcgate_aws_calls_total: one per SDK call, SDK
retries inside); the emulator's throttle counters count HTTP requests. A steady window sees only
what happens within it: writes the operator makes less often (a periodic heartbeat) need a
longer STEADY.
Output: the table on stdout, progress on stderr, target/bench/<UTC time>-N<n>.json and
target/bench/latest.json (parameters, every phase's counters and process samples, derived rows);
logs of each run's operator, emulator and control plane in target/bench/logs/<UTC time>/.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / ".cache" / "bench"
OUT = REPO / "target" / "bench"
CLUSTER_SH = REPO / "tests" / "cluster" / "cluster.sh"
CLUSTER_DIR = STATE / "cluster"
EMULATOR = REPO / "tests" / "emulator" / "vpcgate_moto.py"

REGION = "us-east-1"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
ENDPOINT_MUTATIONS = ("CreateVpcEndpoint", "ModifyVpcEndpoint", "DeleteVpcEndpoints")
MUTATING = (*ENDPOINT_MUTATIONS, "CreateTags", "DeleteTags")
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
API_RESOURCES = {"gatewayendpoints", "events"}
BUCKET_CAPACITY = 4
OPERATOR_BURST = 3
FAST_POLL_S = 0.5
SLOW_POLL_S = 5.0

Network = list[tuple[str, str]]  # (vpc, route table) of each object, in object order
Items = list[dict]


class RunBroken(Exception):
    """The harness cannot measure this run (a process died, a command failed)."""


# ------------------------------------------------------------------------------------------------
# small helpers


# Seconds a throttled run waits after all Ready for the passes it caused to finish.
SETTLE_S = 10.0


def log(msg: str) -> None:
    """Progress on stderr with a timestamp, so stdout holds only the results."""
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def parse_duration(text: str) -> float:
    """Seconds of an operator-style duration (`60s`, `1m30s`), to scale per-resync rates."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(a + u for a, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(a) * unit[u] for a, u in parts)


def free_port() -> int:
    """A free 127.0.0.1 port for the operator's metrics server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cmd(args: list[str], env: dict[str, str] | None = None) -> str:
    """Runs a command to completion and returns its stdout; a failure breaks the run."""
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    if proc.returncode != 0:
        raise RunBroken(f"{shlex.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def http(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, bytes]:
    """One HTTP request with an optional JSON body; (status, body) whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process, from /proc/<pid>/stat (fields after the command's paren)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int) -> dict[str, float]:
    """VmHWM (peak RSS) and VmRSS of a process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) / 1024
    return out


# ------------------------------------------------------------------------------------------------
# processes


def start_process(args: list[str], log_path: Path, env: dict[str, str],
                  stdout: int | None = None) -> subprocess.Popen:
    """Starts a child in its own session: a Ctrl-C reaches only us, and we stop it in order."""
    with open(log_path, "wb") as err:
        return subprocess.Popen(args, stdout=stdout or err, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=REPO, start_new_session=True)


def stop_process(proc: subprocess.Popen | None, name: str) -> None:
    """Stops one child we started, by its pid: SIGTERM, then SIGKILL after 15 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        log(f"{name} (pid {proc.pid}) ignored SIGTERM for 15 s; SIGKILL")
        proc.kill()
        proc.wait()


def start_emulator(log_dir: Path) -> tuple[subprocess.Popen, str]:
    """Starts the emulator on a free port; waits for its first stdout line, `READY <port>`."""
    proc = start_process(
        [str(REPO / ".venv/bin/python"), str(EMULATOR), "--host", "127.0.0.1", "--port", "0"],
        log_dir / "emulator.log", dict(os.environ), stdout=subprocess.PIPE,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline().decode() if ready else ""
    proc.stdout.close()  # nothing more comes on stdout after READY
    if not line.startswith("READY "):
        stop_process(proc, "emulator")
        raise RunBroken(f"the emulator did not start (see {log_dir / 'emulator.log'})")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


# ------------------------------------------------------------------------------------------------
# the control plane


def cluster(*args: str) -> str:
    """tests/cluster/cluster.sh on the bench's own state dir (never the demo's or the tests')."""
    return run_cmd([str(CLUSTER_SH), *args], env={**os.environ, "VPCGATE_CLUSTER_DIR": str(CLUSTER_DIR)})


def kubectl(*args: str) -> str:
    """kubectl as the cluster's admin."""
    return cluster("kubectl", *args)


def install_crd_and_rbac() -> None:
    """The CRD and the operator's ServiceAccount and RBAC, as scripts/demo.sh installs them."""
    kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "crd/gatewayendpoints.vpcgate.dev", "--timeout=60s")
    kubectl("create", "namespace", "vpcgate-system")
    kubectl("apply", "--server-side", "-f", str(REPO / "deploy/rbac.yaml"))


def operator_kubeconfig(path: Path) -> None:
    """A kubeconfig with a token of vpcgate-system/vpcgate: the operator runs under its RBAC."""
    token = kubectl("create", "token", "vpcgate", "-n", "vpcgate-system", "--duration=24h").strip()
    admin = Path(cluster("kubeconfig").strip()).read_text()
    server = re.search(r"server:\s*(\S+)", admin).group(1)
    ca = re.search(r"certificate-authority-data:\s*(\S+)", admin).group(1)
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: local, cluster: {{server: "{server}", certificate-authority-data: "{ca}"}}}}]\n'
        f'users: [{{name: vpcgate, user: {{token: "{token}"}}}}]\n'
        "contexts: [{name: vpcgate, context: {cluster: local, user: vpcgate}}]\n"
        "current-context: vpcgate\n"
    )
    path.chmod(0o600)


# ------------------------------------------------------------------------------------------------
# the AWS side


def ec2_client(url: str) -> Any:
    """A boto3 EC2 client for the emulator."""
    return boto3.client("ec2", endpoint_url=url, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def create_network(url: str, n: int, k: int) -> Network:
    """K VPCs and one new route table per object, object i in VPC i mod K."""
    ec2 = ec2_client(url)
    vpcs = [ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(k)]
    return [
        (vpcs[i % k], ec2.create_route_table(VpcId=vpcs[i % k])["RouteTable"]["RouteTableId"])
        for i in range(n)
    ]


def emulator_endpoints(url: str) -> dict[str, int]:
    """The emulator's VPC endpoints by state (moto keeps deleted ones), so duplicates show."""
    pages = ec2_client(url).get_paginator("describe_vpc_endpoints").paginate()
    return dict(Counter(ep["State"] for page in pages for ep in page["VpcEndpoints"]))


def throttle_url(url: str) -> str:
    return f"{url}/vpcgate-throttle/"


def mutation_refill(n: int) -> float:
    """Refill (tokens/s) of the endpoint-mutation buckets so that N creates take about a minute."""
    return max(0.3, (n - BUCKET_CAPACITY) / 60)


def mutation_floor(n: int) -> float:
    """The least seconds N creates need through a bucket of capacity 4 and that refill."""
    return max(0, n - BUCKET_CAPACITY) / mutation_refill(n)


def enable_throttle(url: str, n: int) -> dict:
    """Turns the emulator's buckets on: the endpoint mutations' scaled to N; the shared
    non-mutating and default buckets keep AWS's sizes (the emulator's defaults)."""
    bucket = {"capacity": BUCKET_CAPACITY, "refill": mutation_refill(n)}
    config = {"enabled": True, "buckets": dict.fromkeys(ENDPOINT_MUTATIONS, bucket), "scale": 1.0}
    status, body = http("POST", throttle_url(url), config)
    if status != 200:
        raise RunBroken(f"POST /vpcgate-throttle/ answered {status}: {body[:300]!r}")
    return json.loads(body)


# ------------------------------------------------------------------------------------------------
# metrics: flat counters keyed "kind/label/label...", so any two snapshots subtract


SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of the Prometheus text format: (name, labels, value)."""
    out = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def operator_counters(port: int) -> Counter:
    """The operator's counters: aws/<service>/<operation>/<code>, reconciles/<result>,
    status_writes, yields."""
    try:
        status, body = http("GET", f"http://127.0.0.1:{port}/metrics")
    except OSError as e:
        raise RunBroken(f"operator /metrics: {e}") from None
    if status != 200:
        raise RunBroken(f"operator /metrics answered {status}")
    counters: Counter = Counter()
    for name, labels, value in prometheus(body.decode()):
        if name == "vpcgate_aws_calls_total":
            counters[f"aws/{labels['service']}/{labels['operation']}/{labels['code']}"] += value
        elif name == "vpcgate_reconciles_total":
            counters[f"reconciles/{labels['result']}"] += value
        elif name in ("vpcgate_status_writes_total", "vpcgate_yields_total"):
            counters[name.removeprefix("vpcgate_").removesuffix("_total")] += value
    return counters


def apiserver_counters() -> Counter:
    """kube-apiserver's own count of writes: api/<resource>/<subresource>/<verb>, codes summed."""
    counters: Counter = Counter()
    for name, labels, value in prometheus(kubectl("get", "--raw", "/metrics")):
        if (name == "apiserver_request_total" and labels.get("verb") in WRITE_VERBS
                and labels.get("resource") in API_RESOURCES):
            counters[f"api/{labels['resource']}/{labels.get('subresource', '')}/{labels['verb']}"] += value
    return counters


def delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """Counter increase from snapshot a to snapshot b (a key absent in a was 0)."""
    return {k: v - a.get(k, 0) for k, v in b.items() if v != a.get(k, 0)}


def total(counters: dict[str, float], pred: Callable[[list[str]], bool]) -> float:
    """Sum of the counters whose `/`-split key satisfies pred."""
    return sum(v for k, v in counters.items() if pred(k.split("/")))


def ec2_ops(op_pred: Callable[[str], bool]) -> Callable[[list[str]], bool]:
    """A key predicate: the operator's EC2 calls whose operation satisfies op_pred."""
    return lambda k: k[0] == "aws" and k[1] == "ec2" and op_pred(k[2])


def is_describe(op: str) -> bool:
    return op.startswith(("Describe", "Get"))


def is_mutating(op: str) -> bool:
    return op in MUTATING


# ------------------------------------------------------------------------------------------------
# objects


def manifest(network: Network, probe: bool) -> str:
    """All objects as one multi-document YAML (each document JSON)."""
    width = max(4, len(str(len(network))))
    docs = []
    for i, (vpc, rtb) in enumerate(network, 1):
        spec = {
            "region": REGION,
            "vpcId": vpc,
            "routeTables": {"ids": [rtb]},
            # An omitted probe means probing on (`enabled` defaults to true).
            "probe": {"interval": "60s"} if probe else {"enabled": False},
        }
        docs.append(json.dumps({
            "apiVersion": "vpcgate.dev/v1alpha1", "kind": "GatewayEndpoint",
            "metadata": {"name": f"bench-{i:0{width}d}"}, "spec": spec,
        }))
    return "---\n".join(d + "\n" for d in docs)


def ready_condition(item: dict) -> tuple[bool, str | None, str]:
    """(Ready is True, its lastTransitionTime, its reason) of one object."""
    for cond in (item.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True", cond.get("lastTransitionTime"), cond.get("reason", "")
    return False, None, "NoReadyCondition"


def all_ready(n: int, current_generation: bool = False) -> Callable[[Items], bool]:
    """All N objects Ready (and, if asked, observed at their current generation)."""
    def observed(item: dict) -> bool:
        return (item.get("status") or {}).get("observedGeneration") == item["metadata"]["generation"]

    def done(items: Items) -> bool:
        return len(items) == n and all(
            ready_condition(i)[0] and (not current_generation or observed(i)) for i in items
        )
    return done


class ReadyWatch:
    """Polls all GatewayEndpoints and keeps each one's Ready history, for readiness and flaps.

    A flap is Ready True -> not True, seen directly or as a new lastTransitionTime while True
    (one that went False and back between two polls)."""

    def __init__(self, operator: subprocess.Popen, t0: float):
        self.operator = operator
        self.t0 = t0
        self.last: dict[str, tuple[bool, str | None]] = {}  # uid -> (ready, lastTransitionTime)
        self.uids: set[str] = set()
        self.flaps: list[tuple[float, str, str]] = []  # (t, name, Ready reason after the flap)
        self.failures = 0

    def poll(self) -> Items | None:
        """One `kubectl get -o json`; None after a failed get (10 in a row break the run)."""
        if self.operator.poll() is not None:
            raise RunBroken(f"the operator exited with code {self.operator.returncode}")
        try:
            items = json.loads(kubectl("get", "gatewayendpoints", "-o", "json"))["items"]
        except RunBroken as e:
            self.failures += 1
            if self.failures >= 10:
                raise
            log(f"poll failed ({e}); retrying")
            return None
        self.failures = 0
        now = time.monotonic() - self.t0
        for item in items:
            uid = item["metadata"]["uid"]
            self.uids.add(uid)
            ready, ltt, reason = ready_condition(item)
            before = self.last.get(uid)
            if before and before[0] and (not ready or ltt != before[1]):
                self.flaps.append((now, item["metadata"]["name"], reason))
            self.last[uid] = (ready, ltt)
        return items

    def until(self, done: Callable[[Items], bool], timeout: float,
              interval: float = FAST_POLL_S) -> float | None:
        """Polls until done(items): the seconds it took, or None at the timeout."""
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < timeout:
            items = self.poll()
            if items is not None and done(items):
                return time.monotonic() - start
            next_poll = elapsed + interval - (time.monotonic() - start)
            time.sleep(max(0.0, min(next_poll, timeout - (time.monotonic() - start))))
        return None

    def hold(self, seconds: float) -> None:
        """Waits, still polling (slowly) for flaps and a dead operator."""
        self.until(lambda _: False, seconds, SLOW_POLL_S)


def warning_events(uids: set[str]) -> dict[str, int]:
    """Warning events about these objects by reason, in occurrences (a series counts its count)."""
    by_reason: Counter = Counter()
    for ev in json.loads(kubectl("get", "events.events.k8s.io", "-A", "-o", "json"))["items"]:
        if ev.get("type") == "Warning" and (ev.get("regarding") or {}).get("uid") in uids:
            count = (ev.get("series") or {}).get("count") or ev.get("deprecatedCount") or 1
            by_reason[ev.get("reason", "")] += count
    return dict(by_reason)


# ------------------------------------------------------------------------------------------------
# one run


@dataclass(frozen=True)
class RunSpec:
    """What one run measures."""

    n: int
    throttle: bool
    probe: bool  # probing on in the objects as created
    probe_window: bool  # then probing switched on and a second steady window

    def label(self) -> str:
        return (f"N={self.n} throttle={'on' if self.throttle else 'off'} "
                f"probe={'on' if self.probe else 'off'}{' (+ probe-on window)' if self.probe_window else ''}")


class Run:
    """One clean world (control plane, emulator, operator), measured through the phases."""

    def __init__(self, params: argparse.Namespace, binary: Path, spec: RunSpec, log_dir: Path):
        self.p, self.binary, self.spec, self.n, self.log_dir = params, binary, spec, spec.n, log_dir
        self.emulator: subprocess.Popen | None = None
        self.operator: subprocess.Popen | None = None
        self.cluster_started = False
        self.url = ""
        self.metrics_port = free_port()
        self.t0 = time.monotonic()
        self.result: dict[str, Any] = {
            "n": spec.n, "k": params.k, "throttle": spec.throttle, "probe": spec.probe,
            "probe_window": spec.probe_window, "phases": {}, "log_dir": str(log_dir.relative_to(REPO)),
        }

    # -- setup ------------------------------------------------------------------------------

    def start_world(self) -> Network:
        """Emulator (network, buckets) and a fresh control plane with the CRD and RBAC."""
        self.emulator, self.url = start_emulator(self.log_dir)
        log(f"emulator {self.url}; creating {self.p.k} VPC(s) and {self.n} route tables")
        network = create_network(self.url, self.n, self.p.k)
        if self.spec.throttle:
            self.result["emulator_throttle"] = enable_throttle(self.url, self.n)
        log("starting a fresh control plane")
        self.cluster_started = True
        cluster("down")  # what an interrupted bench left in the bench's own state dir
        cluster("up")
        install_crd_and_rbac()
        return network

    def operator_args(self) -> list[str]:
        """`vpcgate run` flags; the newer ones only when this binary lists them in `run --help`."""
        helptext = run_cmd([str(self.binary), "run", "--help"])
        args = [
            "run", "--resync", self.p.resync, "--concurrency", str(self.p.concurrency),
            "--metrics-addr", f"127.0.0.1:{self.metrics_port}", "--lease-namespace", "vpcgate-system",
        ]
        if "--aws-view-ttl" in helptext:
            args += ["--aws-view-ttl", self.p.view_ttl]
        if "--endpoint-mutation-rate" in helptext and "--endpoint-mutation-burst" in helptext:
            # Throttle off means no bucket anywhere: the operator's own pacing off (rate 0) too.
            rate = 0.95 * mutation_refill(self.n) if self.spec.throttle else 0
            args += ["--endpoint-mutation-burst", str(OPERATOR_BURST),
                     "--endpoint-mutation-rate", f"{rate:.4g}"]
        return args

    def start_operator(self) -> None:
        """The operator under its ServiceAccount; waits for /readyz and a held Lease, so the
        clock starts with a leader."""
        kubeconfig = self.log_dir / "operator.kubeconfig"
        operator_kubeconfig(kubeconfig)
        args = self.operator_args()
        self.result["operator_args"] = args
        env = {
            "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "KUBECONFIG": str(kubeconfig),
            "AWS_ENDPOINT_URL": self.url, "AWS_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
            **FAKE_AWS, **{k: v for k, v in os.environ.items() if k == "RUST_LOG"},
        }
        log(f"starting {self.binary.name} {shlex.join(args)}")
        self.operator = start_process([str(self.binary), *args], self.log_dir / "operator.log", env)
        deadline = time.monotonic() + 120
        while not (self.operator_ready() and self.lease_held()):
            if self.operator.poll() is not None:
                raise RunBroken(f"the operator exited with code {self.operator.returncode} "
                                f"(see {self.log_dir / 'operator.log'})")
            if time.monotonic() > deadline:
                raise RunBroken("the operator was not ready and leading within 120 s")
            time.sleep(0.2)

    def operator_ready(self) -> bool:
        with contextlib.suppress(OSError):
            return http("GET", f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=1)[0] == 200
        return False

    def lease_held(self) -> bool:
        with contextlib.suppress(RunBroken):
            leases = json.loads(kubectl("get", "leases", "-n", "vpcgate-system", "-o", "json"))["items"]
            return any((lease.get("spec") or {}).get("holderIdentity") for lease in leases)
        return False

    # -- measuring --------------------------------------------------------------------------

    def snapshot(self, label: str) -> None:
        """Counters (operator, API server, emulator buckets) and process samples at a phase end."""
        counters = operator_counters(self.metrics_port) + apiserver_counters()
        if self.spec.throttle:
            state = json.loads(http("GET", throttle_url(self.url))[1])
            for action, c in state.get("counters", {}).items():
                counters[f"emu/{action}/allowed"] = c["allowed"]
                counters[f"emu/{action}/throttled"] = c["throttled"]
        t = round(time.monotonic() - self.t0, 3)
        self.result["phases"][label] = {
            "t": t,
            "counters": dict(counters),
            "operator": {**memory_mib(self.operator.pid), "cpu_s": cpu_seconds(self.operator.pid)},
            "emulator_cpu_s": cpu_seconds(self.emulator.pid),
        }
        log(f"  phase {label} ends at {t:.1f}s")

    def apply_all(self, watch: ReadyWatch, network: Network, probe: bool, timeout: float,
                  current_generation: bool) -> tuple[float, float | None]:
        """One server-side apply of all objects: (seconds the apply took, seconds from its start
        to all Ready, None at the timeout)."""
        path = self.log_dir / f"objects-probe-{'on' if probe else 'off'}.yaml"
        path.write_text(manifest(network, probe))
        start = time.monotonic()
        kubectl("apply", "--server-side", "-f", str(path))
        applied = time.monotonic() - start
        waited = watch.until(all_ready(self.n, current_generation), timeout)
        return applied, None if waited is None else applied + waited

    def steady_window(self, watch: ReadyWatch, prefix: str) -> None:
        """One resync for the passes the change caused, then STEADY seconds measured."""
        watch.hold(self.p.resync_s)
        self.snapshot(f"{prefix}settled")
        watch.hold(self.p.steady)
        self.snapshot(f"{prefix}steady")

    def note(self, text: str) -> None:
        """An operator-side outcome the table shows (not a harness failure)."""
        log(text)
        self.result["note"] = "; ".join(filter(None, [self.result.get("note"), text]))

    def measure(self) -> None:
        network = self.start_world()
        self.start_operator()
        floor = mutation_floor(self.n) if self.spec.throttle else None
        timeout = 600 + 3 * (floor or 0)
        watch = ReadyWatch(self.operator, self.t0)
        self.snapshot("start")
        log(f"applying {self.n} objects")
        applied, ready = self.apply_all(watch, network, self.spec.probe, timeout, False)
        self.result.update(apply_s=applied, ready_s=ready, floor_s=floor)
        if ready is None:
            self.note(f"not all Ready within {timeout:.0f}s; no steady window")
        else:
            log(f"all {self.n} Ready after {ready:.1f}s")
            self.snapshot("ready")
            if self.spec.throttle:
                # The throttled run is about creation and deletion under the buckets (the time
                # to Ready against the floor, flaps, Warnings); the steady state is the
                # unthrottled run's. This keeps the default run near ten minutes.
                watch.hold(SETTLE_S)
                self.snapshot("settled")
            else:
                self.steady_window(watch, "")
            if self.spec.probe_window:
                self.probe_window(watch, network, timeout)
        self.result["flaps"] = [[round(t, 1), name, reason] for t, name, reason in watch.flaps]
        self.delete_all(watch, timeout)
        self.result["warnings"] = warning_events(watch.uids)
        self.result["objects_seen"] = len(watch.uids)
        if self.spec.throttle:
            http("DELETE", throttle_url(self.url))  # so our own describes are not throttled
        self.result["emulator_endpoints"] = emulator_endpoints(self.url)

    def probe_window(self, watch: ReadyWatch, network: Network, timeout: float) -> None:
        log("switching probing on")
        applied, settled = self.apply_all(watch, network, True, timeout, True)
        self.result.update(probe_apply_s=applied, probe_settle_s=settled)
        if settled is None:
            self.note(f"not all Ready at the new generation within {timeout:.0f}s; no probe-on window")
            return
        self.snapshot("probe_ready")
        self.steady_window(watch, "probe_")

    def delete_all(self, watch: ReadyWatch, timeout: float) -> None:
        log("deleting all objects")
        self.snapshot("delete_start")
        kubectl("delete", "gatewayendpoints", "--all", "--wait=false")
        took = watch.until(lambda items: not items, timeout)
        self.result["delete_s"] = took
        if took is None:
            self.note(f"objects left {timeout:.0f}s after the delete")
        else:
            log("all deleted")
        self.snapshot("deleted")

    def execute(self) -> dict[str, Any]:
        """Measures the run and always stops what it started, in reverse order."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.measure()
        except RunBroken as e:
            self.result["error"] = str(e)
            log(f"run broken: {e}")
        except Exception as e:  # a harness bug: keep the traceback, still stop what we started
            self.result["error"] = f"{type(e).__name__}: {e}"
            log("run broken by an unexpected error:\n" + traceback.format_exc())
        finally:
            self.stop()
        return self.result

    def stop(self) -> None:
        stop_process(self.operator, "operator")
        stop_process(self.emulator, "emulator")
        if self.cluster_started:
            for component in ("etcd", "kube-apiserver", "kube-controller-manager"):
                with contextlib.suppress(OSError):
                    shutil.copy(CLUSTER_DIR / f"{component}.log", self.log_dir)
            cluster("down")


# ------------------------------------------------------------------------------------------------
# derived numbers and printing


def window(run: dict, a: str, b: str) -> dict[str, Any] | None:
    """Counter deltas, duration and CPU between two phase ends; None if either is missing."""
    pa, pb = run["phases"].get(a), run["phases"].get(b)
    if not pa or not pb:
        return None
    return {
        "seconds": pb["t"] - pa["t"],
        "counters": delta(pa["counters"], pb["counters"]),
        "operator_cpu_s": pb["operator"]["cpu_s"] - pa["operator"]["cpu_s"],
        "emulator_cpu_s": pb["emulator_cpu_s"] - pa["emulator_cpu_s"],
        "rss_peak_mib": pb["operator"]["VmHWM"],
    }


def steady_columns(run: dict, prefix: str, resync_s: float) -> dict[str, Any]:
    """The steady-window columns of one window (empty if it was not measured)."""
    w = window(run, f"{prefix}settled", f"{prefix}steady")
    if w is None:
        return {}
    n, hours, c = run["n"], w["seconds"] / 3600, w["counters"]

    def per_object_hour(pred: Callable[[list[str]], bool]) -> float:
        return total(c, pred) / n / hours

    describes = total(c, ec2_ops(is_describe))
    return {
        "window_s": w["seconds"],
        "describes": describes,
        "desc_obj_resync": describes / n / (w["seconds"] / resync_s),
        "mutating_in_window": total(c, ec2_ops(is_mutating)),
        "probe_calls": total(c, lambda k: k[0] == "aws" and k[1] == "dynamodb"),
        "gwe_w_obj_h": per_object_hour(lambda k: k[0] == "api" and k[1] == "gatewayendpoints"),
        "ev_w_obj_h": per_object_hour(lambda k: k[0] == "api" and k[1] == "events"),
        "st_w_obj_h": per_object_hour(lambda k: k[0] == "status_writes"),
        "rss_mib": w["rss_peak_mib"],
        "cpu_s": w["operator_cpu_s"],
        "emu_cpu_s": w["emulator_cpu_s"],
    }


def rows(run: dict, resync_s: float) -> list[dict[str, Any]]:
    """The table rows of one run: its first steady window, and the probe-on window if any."""
    n, phases = run["n"], run["phases"]
    base = {"n": n, "k": run["k"], "throttle": "on" if run["throttle"] else "off"}
    note = "; ".join(run[k] for k in ("error", "note") if run.get(k)) or None
    if not phases:
        return [{**base, "probe": "on" if run["probe"] else "off", "note": note}]
    ready_s, floor = run.get("ready_s"), run.get("floor_s")
    create = window(run, "start", "settled") or window(run, "start", "delete_start")
    deletion = window(run, "delete_start", "deleted")
    first_end = phases.get("steady", phases.get("delete_start", {})).get("t", 0)
    flap_times = [t for t, _, _ in run.get("flaps", [])]
    first = {
        **base, "probe": "on" if run["probe"] else "off",
        "ready_s": ready_s, "ready_floor": ready_s / floor if ready_s and floor else None,
        "flaps": sum(1 for t in flap_times if t <= first_end),
        "warn": sum(run.get("warnings", {}).values()),
        "mut_ep": total(create["counters"], ec2_ops(is_mutating)) / n if create else None,
        "del_s": run.get("delete_s"),
        "del_ep": (total(deletion["counters"], ec2_ops(lambda op: op == "DeleteVpcEndpoints")) / n
                   if deletion else None),
        **steady_columns(run, "", resync_s),
        "note": note,
    }
    if not run.get("probe_window"):
        return [first]
    probe_end = phases.get("probe_steady", {}).get("t", first_end)
    return [first, {
        **base, "probe": "on", "flaps": sum(1 for t in flap_times if first_end < t <= probe_end),
        **steady_columns(run, "probe_", resync_s),
    }]


COLUMNS = [
    ("N", "n", "d"), ("K", "k", "d"), ("thr", "throttle", "s"), ("probe", "probe", "s"),
    ("ready_s", "ready_s", ".1f"), ("/floor", "ready_floor", ".2f"), ("flaps", "flaps", "d"),
    ("warn", "warn", "d"), ("mut/ep", "mut_ep", ".2f"), ("desc/obj/rs", "desc_obj_resync", ".2f"),
    ("gwe_w/obj/h", "gwe_w_obj_h", ".1f"), ("ev_w/obj/h", "ev_w_obj_h", ".1f"),
    ("st_w/obj/h", "st_w_obj_h", ".1f"), ("rss_MiB", "rss_mib", ".1f"), ("cpu_s", "cpu_s", ".1f"),
    ("emu_cpu_s", "emu_cpu_s", ".1f"), ("del_s", "del_s", ".1f"), ("del/ep", "del_ep", ".2f"),
]


def cell(row: dict, key: str, fmt: str) -> str:
    value = row.get(key)
    return "-" if value is None else format(value, fmt)


def print_table(all_rows: list[dict]) -> None:
    """The result table on stdout, then the notes (broken runs, timeouts)."""
    table = [[h for h, _, _ in COLUMNS]] + [[cell(r, k, f) for _, k, f in COLUMNS] for r in all_rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    for line in table:
        print("  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)))
    for r in all_rows:
        if r.get("note"):
            print(f"note N={r['n']} throttle={r['throttle']} probe={r['probe']}: {r['note']}")


def ec2_call_summary(c: dict[str, float]) -> str:
    """EC2 calls by action: the operator's count, failures, and the emulator's when it throttled."""
    parts = []
    for op in sorted({k.split("/")[2] for k in c if k.startswith("aws/ec2/")}):
        calls = total(c, ec2_ops(lambda o, op=op: o == op))
        failed = calls - c.get(f"aws/ec2/{op}/OK", 0)
        text = f"{op} {calls:.0f}" + (f" ({failed:.0f} failed)" if failed else "")
        if f"emu/{op}/allowed" in c or f"emu/{op}/throttled" in c:
            text += (f" [emulator: {c.get(f'emu/{op}/allowed', 0):.0f} allowed,"
                     f" {c.get(f'emu/{op}/throttled', 0):.0f} throttled]")
        parts.append(text)
    return "; ".join(parts)


def print_run_details(run: dict) -> None:
    """Per run: EC2 calls by action (apply to all deleted), Ready flaps and Warning events by
    reason, and the emulator's endpoint count when it is not N (duplicates or lost creates)."""
    w = window(run, "start", "deleted")
    if w is None:
        return
    label = f"N={run['n']} throttle={'on' if run['throttle'] else 'off'}"
    print(f"{label}: ec2 calls: {ec2_call_summary(w['counters'])}")
    for what, counts in (("Ready flaps", Counter(r for _, _, r in run.get("flaps", []))),
                         ("Warning events", run.get("warnings", {}))):
        if counts:
            print(f"  {what} by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    endpoints = run.get("emulator_endpoints")
    if endpoints is not None and sum(endpoints.values()) != run["n"]:
        print(f"  the emulator holds {sum(endpoints.values())} endpoints for {run['n']} objects: {endpoints}")


def growth(lo: dict, hi: dict, key: str) -> str:
    """hi/lo of one column, as `x1.23` ("-" when either is missing or lo is 0)."""
    return "-" if not lo.get(key) or hi.get(key) is None else f"x{hi[key] / lo[key]:.2f}"


def print_growth(all_rows: list[dict]) -> None:
    """For a sweep: growth from the smallest to the largest N of each (throttle, probe) pair."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in all_rows:
        if r.get("describes") is not None:
            groups.setdefault((r["throttle"], r["probe"]), []).append(r)
    for (thr, probe), group in sorted(groups.items()):
        lo, hi = min(group, key=lambda r: r["n"]), max(group, key=lambda r: r["n"])
        if lo["n"] != hi["n"]:
            print(f"growth N {lo['n']}->{hi['n']} (x{hi['n'] / lo['n']:.2f}), throttle={thr} probe={probe}: "
                  f"steady describes {growth(lo, hi, 'describes')}, steady emulator cpu "
                  f"{growth(lo, hi, 'emu_cpu_s')}, ready_s {growth(lo, hi, 'ready_s')}, "
                  f"rss {growth(lo, hi, 'rss_mib')}")


# ------------------------------------------------------------------------------------------------
# binary, parameters, main


def release_binary() -> Path:
    """The Dockerfile's build as tests/docker/test.sh runs it (its flags, target dir and env), so
    after `make test` nothing recompiles. dockerfile_checks.py is stdlib-only."""
    flags = run_cmd([sys.executable, "tests/docker/dockerfile_checks.py", "flags"]).split()
    target = os.environ.get("VPCGATE_IMAGE_TARGET_DIR", "target/docker")
    profile = "release" if "--release" in flags else "dev"
    for i, flag in enumerate(flags):
        if flag == "--profile":
            profile = flags[i + 1]
        elif flag.startswith("--profile="):
            profile = flag.split("=", 1)[1]
    build_log = OUT / "build.log"
    log(f"cargo build {' '.join(flags)} (CARGO_TARGET_DIR={target}; log {build_log.relative_to(REPO)})")
    env = {**os.environ, "CARGO_TARGET_DIR": target, "CARGO_TERM_COLOR": "never"}
    with open(build_log, "wb") as out:
        if subprocess.run(["cargo", "build", *flags], stdout=out, stderr=out, env=env, cwd=REPO,
                          check=False).returncode:
            raise RunBroken(f"the release build failed; see {build_log}")
    return REPO / target / ("debug" if profile == "dev" else profile) / "vpcgate"


def pin_binary(source: Path) -> tuple[Path, str]:
    """A private copy: every run of this bench uses one binary even if it is rebuilt meanwhile."""
    dest = STATE / "bin" / "vpcgate"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, dest)
    return dest, hashlib.sha256(dest.read_bytes()).hexdigest()


def env_default(name: str, default: str) -> str:
    return os.environ.get(name) or default


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default=env_default("N", "200"), help="object counts (space-separated)")
    parser.add_argument("--k", type=int, default=int(env_default("K", "1")))
    parser.add_argument("--resync", default=env_default("RESYNC", "60s"))
    parser.add_argument("--concurrency", type=int, default=int(env_default("CONCURRENCY", "4")))
    parser.add_argument("--steady", type=float, default=float(env_default("STEADY", "120")))
    parser.add_argument("--throttle", choices=("on", "off", "both"), default=env_default("THROTTLE", "both"))
    parser.add_argument("--probe", choices=("on", "off", "both"), default=env_default("PROBE", "both"))
    parser.add_argument("--view-ttl", default=env_default("VIEW_TTL", "30s"))
    parser.add_argument("--bin", default=os.environ.get("VPCGATE_BENCH_BIN"))
    p = parser.parse_args()
    p.ns = [int(x) for x in p.n.replace(",", " ").split()]
    try:
        p.resync_s = parse_duration(p.resync)
    except ValueError as e:
        parser.error(str(e))
    if not p.ns or min(p.ns) < 1 or not 1 <= p.k <= 256 or p.steady <= 0:
        parser.error("N must be >= 1, K 1..256 (VPC i is 10.i.0.0/16), STEADY > 0")
    return p


def plan(p: argparse.Namespace) -> list[RunSpec]:
    """The runs, throttle off first. PROBE=both adds the probe-on window to the first run of each
    N only: one probe-on steady window per N is what it measures, and each costs minutes."""
    throttles = {"off": [False], "on": [True], "both": [False, True]}[p.throttle]
    return [
        RunSpec(n, throttle, p.probe == "on", p.probe == "both" and i == 0)
        for n in p.ns
        for i, throttle in enumerate(throttles)
    ]


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=False).stdout

    return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(git("status", "--porcelain").strip())}


def save(result: dict, path: Path) -> None:
    """Writes the JSON (after every run, so an interrupted bench keeps what it measured)."""
    path.write_text(json.dumps(result, indent=2) + "\n")
    shutil.copy(path, OUT / "latest.json")


def main() -> int:
    p = parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    lock = (STATE / ".lock").open("w")  # held until exit: one bench at a time owns the state dir
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another bench is running (it holds {STATE / '.lock'})")
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through every finally
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = OUT / f"{stamp}-N{'-'.join(map(str, p.ns))}.json"
    try:
        source = Path(p.bin) if p.bin else release_binary()
        binary, sha = pin_binary(REPO / source)
    except (RunBroken, OSError) as e:
        log(f"no operator binary: {e}")
        return 1
    result: dict[str, Any] = {
        "started": stamp, "git": git_info(), "binary": {"source": str(source), "sha256": sha},
        "params": {"n": p.ns, "k": p.k, "resync": p.resync, "concurrency": p.concurrency,
                   "steady_s": p.steady, "throttle": p.throttle, "probe": p.probe, "view_ttl": p.view_ttl},
        "runs": [],
    }
    specs = plan(p)
    try:
        for i, spec in enumerate(specs, 1):
            log(f"run {i}/{len(specs)}: {spec.label()} K={p.k}")
            result["runs"].append(Run(p, binary, spec, OUT / "logs" / stamp / f"run{i}").execute())
            save(result, path)
    except KeyboardInterrupt:
        log("interrupted; what this run started is stopped")
        return 130
    result["rows"] = [r for run in result["runs"] for r in rows(run, p.resync_s)]
    save(result, path)
    print_table(result["rows"])
    for run in result["runs"]:
        print_run_details(run)
    print_growth(result["rows"])
    print(f"json: {path.relative_to(REPO)} (and target/bench/latest.json)")
    return 1 if any(run.get("error") for run in result["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
