#!/usr/bin/env python3
"""Checks of deploy/argocd/*.yaml for tests/argocd/test.sh: prints `ok ...`/`FAIL ...` lines.

- argocd-cm.yaml's health key holds exactly health.lua (byte for byte);
- application.yaml is an Argo CD Application syncing charts/vpcgate with its CRDs, server-side.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "deploy/argocd"
HEALTH = ARGOCD / "resource_customizations/vpcgate.dev/GatewayEndpoint/health.lua"
KEY = "resource.customizations.health.vpcgate.dev_GatewayEndpoint"

failed = 0


def check(name: str, problem: str | None) -> None:
    global failed
    if problem is None:
        print(f"ok {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {problem}")


def first_diff(a: bytes, b: bytes) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    line = a[:n].count(b"\n") + 1
    return f"differs from health.lua at byte {n} (line {line}); lengths {len(a)} vs {len(b)}"


def main() -> int:
    lua = HEALTH.read_bytes()
    try:
        cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
        snippet = cm["data"][KEY]
        ok_shape = cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "argocd-cm"
        check("argocd-cm: a ConfigMap named argocd-cm", None if ok_shape else
              f"kind {cm.get('kind')!r}, name {cm.get('metadata', {}).get('name')!r}")
        got = snippet.encode()
        check(f"argocd-cm: {KEY} equals health.lua byte for byte",
              None if got == lua else first_diff(got, lua))
    except Exception as e:  # noqa: BLE001
        check(f"argocd-cm: {KEY} equals health.lua byte for byte", f"{type(e).__name__}: {e}")

    try:
        app = yaml.safe_load((ARGOCD / "application.yaml").read_text())
        src = app["spec"]["source"]
        opts = app["spec"]["syncPolicy"]["syncOptions"]
        problems = []
        if (app["apiVersion"], app["kind"]) != ("argoproj.io/v1alpha1", "Application"):
            problems.append(f"{app['apiVersion']}/{app['kind']}")
        if src.get("path") != "charts/vpcgate":
            problems.append(f"source.path {src.get('path')!r}")
        if not src.get("repoURL"):
            problems.append("no source.repoURL")
        if src.get("helm", {}).get("skipCrds", False):
            problems.append("helm.skipCrds drops the CRD")
        if "ServerSideApply=true" not in opts:
            problems.append(f"syncOptions {opts} lack ServerSideApply=true")
        check("application: syncs charts/vpcgate with its CRD, server-side",
              "; ".join(problems) or None)
    except Exception as e:  # noqa: BLE001
        check("application: syncs charts/vpcgate with its CRD, server-side",
              f"{type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
