#!/usr/bin/env python3
"""Judges checkov's JSON report for tests/checkov/test.sh.

    report.py REPORT_JSON SCAN_DIR

REPORT_JSON is `checkov -d SCAN_DIR --framework kubernetes dockerfile -o json`; SCAN_DIR holds the
chart's renderings (chart/<profile>.yaml) and a copy of the Dockerfile. Prints `ok ...` / `FAIL
...` lines (tests/lib/checks.sh's `tally` counts them) and exits 1 when any failed:
  - both frameworks reported, without parsing errors;
  - every rendered object checkov has checks for, and the Dockerfile, was scanned;
  - no failed check (each one is printed with its resource and file);
  - every skipped check carries a reason (printed once per check, object kind and reason).
Only the standard library and PyYAML (both in checkov's venv).
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import yaml

# Kinds the chart renders that checkov's kubernetes framework has checks for.
CHECKED_KINDS = {"Deployment", "ServiceAccount", "Service", "ClusterRole", "ClusterRoleBinding",
                 "Role", "RoleBinding"}
NO_REASON = {"", "No comment provided"}

failed = 0


def ok(msg):
    print(f"ok {msg}")


def fail(name, reason):
    global failed
    failed += 1
    print(f"FAIL {name}: {reason}")


def main(report_path, scan_dir):
    scan_dir = Path(scan_dir)
    try:
        data = json.loads(Path(report_path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        fail("checkov report", f"no JSON report ({e})")
        return 1
    prefixes = {str(p).strip("/") + "/" for p in (scan_dir, scan_dir.resolve())}

    def rel(path):
        """A report's file_path ("/chart/x.yaml", "/SCAN_DIR/chart/x.yaml") as chart/x.yaml."""
        path = path.lstrip("/")
        for prefix in prefixes:
            if path.startswith(prefix):
                return path[len(prefix):]
        return path

    reports = {r.get("check_type"): r for r in (data if isinstance(data, list) else [data])}

    for framework in ("kubernetes", "dockerfile"):
        failed_before = failed
        r = reports.get(framework)
        if r is None:
            fail(f"checkov {framework}", "no report (nothing scanned?)")
            continue
        s = r["summary"]
        results = r["results"]
        if s.get("parsing_errors") or results.get("parsing_errors"):
            fail(f"checkov {framework}", f"parsing errors: {results.get('parsing_errors')}")
        all_results = [c for k in ("passed_checks", "failed_checks", "skipped_checks")
                       for c in results.get(k, [])]
        scanned = {(rel(c["file_path"]), c["resource"]) for c in all_results}
        if framework == "kubernetes":
            missing = []
            rendered = sorted((scan_dir / "chart").glob("*.yaml"))
            for f in rendered:
                name = f.relative_to(scan_dir).as_posix()
                for d in yaml.safe_load_all(f.read_text()):
                    if not d or d.get("kind") not in CHECKED_KINDS:
                        continue
                    meta = d["metadata"]
                    rid = f"{d['kind']}.{meta.get('namespace', 'default')}.{meta['name']}"
                    if (name, rid) not in scanned:
                        missing.append(f"{rid} ({name})")
            if missing:
                fail("checkov kubernetes coverage", f"not scanned: {', '.join(missing)}")
            where = f"{len({r for _, r in scanned})} objects in {len(rendered)} renderings"
        else:
            if not any(p == "Dockerfile" for p, _ in scanned):
                fail("checkov dockerfile coverage", "the Dockerfile was not scanned")
            where = "Dockerfile"

        for c in results.get("failed_checks", []):
            guide = f" ({c['guideline']})" if c.get("guideline") else ""
            fail(f"checkov {c['check_id']}",
                 f"{c['check_name']}: {c['resource']} in {rel(c['file_path'])}"
                 f"{guide}; fix it, or skip it where it is with a reason")

        # One line per skipped check id, the kinds it was skipped on and the reason(s).
        skips = defaultdict(lambda: (set(), set()))
        for c in results.get("skipped_checks", []):
            reason = (c.get("check_result", {}).get("suppress_comment") or "").strip()
            kinds, reasons = skips[(c["check_id"], c["check_name"])]
            kinds.add(c["resource"].split(".")[0] if framework == "kubernetes" else "Dockerfile")
            reasons.add(reason)
        for (cid, cname), (kinds, reasons) in sorted(skips.items()):
            if reasons & NO_REASON:
                fail(f"checkov {cid}", f"skipped without a reason on {', '.join(sorted(kinds))}")
        if failed == failed_before:
            ok(f"checkov {framework}: {s['passed']} checks pass, none fails, "
               f"{s['skipped']} skipped with a reason ({where})")
        for (cid, cname), (kinds, reasons) in sorted(skips.items()):
            print(f"  skipped {cid} ({cname}) on {', '.join(sorted(kinds))}: {' / '.join(sorted(reasons))}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
