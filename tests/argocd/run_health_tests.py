#!/usr/bin/env python3
"""Runs every case of an Argo CD health_test.yaml against its health.lua in a real Lua 5.1
interpreter (lupa.lua51: PUC Lua 5.1, the language version of Argo CD's gopher-lua) and compares
status and message exactly.

  run_health_tests.py [DIR]     DIR holds health.lua, health_test.yaml and testdata/
                                (default: deploy/argocd/resource_customizations/vpcgate.dev/GatewayEndpoint)

Prints `ok <case>` or `FAIL <case>: reason` per case, then `N passed, M failed`; exits non-zero
on any failure. The object reaches Lua the way Argo CD passes it: JSON-like values as nested
tables (arrays 1-based), numbers as Lua numbers, timestamps as strings; the script runs in an
environment without io, os, debug, dofile, loadfile or require, like Argo CD's sandbox.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import lupa.lua51 as lua51
import yaml

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / "deploy/argocd/resource_customizations/vpcgate.dev/GatewayEndpoint"
STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
# Every Ready reason the controller writes (src/error.rs, src/aws/errors.rs, src/probe.rs via
# status::probe_reason, src/controller/status.rs) and the health it must map to.
REASON_CLASSES = {
    "Progressing": ["Creating", "ProbePending", "RoutesMissing", "OutOfSync", "Throttled",
                    "AwsUnreachable", "AwsError", "IdempotentParameterMismatch", "NotFound",
                    "KubernetesApiError", "FinalizerError", "Deleting"],
    "Degraded": ["AccessDenied", "AccessDeniedByIam", "AccessDeniedByEndpointPolicy",
                 "RouteTableConflict", "Conflict", "VpcNotFound", "RouteTableNotFound",
                 "SubnetNotFound", "NoRouteTables", "InvalidSpec", "InvalidParameter",
                 "ServiceNotAvailable", "EndpointLimitExceeded", "EndpointFailed",
                 "TableNotFound", "ProbeTimeout", "ProbeFailed", "DnsFailure"],
}
SAFE_GLOBALS = ("assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber",
                "tostring", "type", "unpack", "xpcall", "string", "table", "math", "_VERSION")


def jsonish(value):
    """What Kubernetes would store: YAML timestamps stay strings."""
    if isinstance(value, dict):
        return {str(k): jsonish(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonish(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat().replace("+00:00", "Z")
    return value


def numbers_as_floats(value):
    """Lua 5.1 has only double-precision numbers."""
    if isinstance(value, dict):
        return {k: numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_as_floats(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    raise TypeError(f"unsupported value {value!r}")


def to_lua(rt, value):
    """Nested tables, lists 1-based; null fields are absent (nil), as in Argo CD."""
    return rt.table_from(numbers_as_floats(value), recursive=True)


def run_case(script: str, obj: dict) -> tuple[object, object]:
    rt = lua51.LuaRuntime(unpack_returned_tuples=True, register_eval=False)
    lg = rt.globals()
    # loadstring returns the chunk, or nil and the syntax error.
    loaded = rt.eval("loadstring")(script, "=health.lua")
    chunk = loaded[0] if isinstance(loaded, tuple) else loaded
    if chunk is None:
        raise RuntimeError(f"health.lua does not compile as Lua 5.1: {loaded[1]}")
    env = rt.table()
    for name in SAFE_GLOBALS:
        env[name] = lg[name]
    env["obj"] = to_lua(rt, obj)
    lg.setfenv(chunk, env)
    hs = chunk()
    if hs is None or lua51.lua_type(hs) != "table":
        raise RuntimeError(f"health.lua returned {hs!r}, not a table")
    return hs["status"], hs["message"]


def main(argv: list[str]) -> int:
    d = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    script = (d / "health.lua").read_text()
    tests = yaml.safe_load((d / "health_test.yaml").read_text())["tests"]
    passed = failed = 0

    def report(name: str, problem: str | None) -> None:
        nonlocal passed, failed
        if problem is None:
            passed += 1
            print(f"ok {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {problem}")

    rt = lua51.LuaRuntime()
    report("health.lua is Lua 5.1", None if rt.eval("_VERSION") == "Lua 5.1" else
           f"interpreter is {rt.eval('_VERSION')}")
    referenced = set()
    for case in tests:
        path = case["inputPath"]
        referenced.add(path)
        want = case["healthStatus"]
        name = f"{Path(path).stem} -> {want.get('status')}"
        try:
            obj = jsonish(yaml.safe_load((d / path).read_text()))
            status, message = run_case(script, obj)
        except Exception as e:  # noqa: BLE001 - any error fails the case, with its text
            report(name, f"{type(e).__name__}: {e}")
            continue
        problems = []
        if status not in STATUSES:
            problems.append(f"status {status!r} is not an Argo CD health status")
        if status != want.get("status"):
            problems.append(f"status {status!r}, want {want.get('status')!r}")
        if message != want.get("message"):
            problems.append(f"message {message!r}, want {want.get('message')!r}")
        report(name, "; ".join(problems) or None)
    wrong = []
    for want_status, reasons in REASON_CLASSES.items():
        for reason in reasons:
            obj = {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [
                {"type": "Ready", "status": "False", "reason": reason, "message": "m"}]}}
            got, _ = run_case(script, obj)
            if got != want_status:
                wrong.append(f"{reason} is {got}, want {want_status}")
            # The script names every reason it knows in its own tables, not by a fallback.
            if f"{reason} = true" not in script:
                wrong.append(f"{reason} is not listed in health.lua")
    total = sum(len(r) for r in REASON_CLASSES.values())
    report(f"every controller reason maps to its health ({total} reasons)",
           "; ".join(wrong) if wrong else None)
    orphans = sorted(f"testdata/{p.name}" for p in (d / "testdata").glob("*.yaml")
                     if f"testdata/{p.name}" not in referenced)
    report("every testdata file has a case", f"unreferenced: {orphans}" if orphans else None)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
