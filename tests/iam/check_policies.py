#!/usr/bin/env python3
"""parliament over the IAM policies vpcgate generates, for tests/iam/test.sh.

    check_policies.py ACCEPTED_LOW SAMPLE.json...

The samples are what `vpcgate iam-policy --samples-dir DIR` writes:
  - operator-*.json: identity policies (the operator's role); no statement has a Principal;
  - endpoint-*.json: resource policies of the gateway endpoint; every statement has a Principal
    (parliament then also checks the Principal).
Any other file name fails, as does a run without at least one sample of each kind.

Each sample goes through parliament with its community auditors. Fails on every finding of
severity MEDIUM or above, on every LOW finding that ACCEPTED_LOW does not list, and on every
ACCEPTED_LOW entry that matched no finding (the list says only what is seen). INFO findings are
printed, never fail. ACCEPTED_LOW: one entry a line, `FILE_GLOB ISSUE REASON...`, FILE_GLOB
matched against the sample's file name; "#" starts a comment line.

Prints `ok ...` / `FAIL ...` lines (tests/lib/checks.sh's `tally` counts them) and a summary;
exits 1 when anything failed.

parliament is called through its Python API (what its CLI does: analyze_policy_string, then
enhance_finding for severity and title) rather than its CLI: the 1.6.4 CLI writes its argv and
each `--files` policy to /tmp/parliament.log, and refuses `--file` whenever stdin is not a
terminal (as under make or CI).
"""

import fnmatch
import json
import sys
import warnings
from collections import Counter
from pathlib import Path

with warnings.catch_warnings():
    # parliament imports pkg_resources, which warns that it is deprecated.
    warnings.simplefilter("ignore")
    import jsoncfg
    import parliament
    from parliament import analyze_policy_string, enhance_finding, override_config

SEVERITIES = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]

failed = 0


def ok(msg):
    print(f"ok {msg}")


def fail(name, reason):
    global failed
    failed += 1
    print(f"FAIL {name}: {reason}")


def load_accepted(path):
    """[(line number, glob, issue, reason)]"""
    entries = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            fail(f"{path}:{n}", f"want `FILE_GLOB ISSUE REASON...`, got {line!r}")
            continue
        entries.append((n, parts[0], parts[1], parts[2].strip()))
    return entries


def statement_sid(policy, location):
    """The Sid (or index) of the statement a finding's location falls in, if any."""
    if not isinstance(location, dict) or "line" not in location:
        return None
    at = (location["line"], location.get("column", 0))
    found = None
    for i, st in enumerate(getattr(policy, "statements", [])):
        try:
            loc = jsoncfg.node_location(st.stmt)
        except Exception:  # a statement parliament could not place
            continue
        if (loc.line, loc.column) <= at:
            found = st.sid or f"#{i}"
    return found


def kind_of(name):
    for kind in ("operator", "endpoint"):
        if fnmatch.fnmatch(name, f"{kind}-*.json"):
            return kind
    return None


def shape_problem(kind, doc):
    """Why a sample is not the kind of policy its name says, or None."""
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        return "no Statement"
    with_principal = [s for s in statements if "Principal" in s or "NotPrincipal" in s]
    if kind == "operator" and with_principal:
        return "an identity policy with a Principal"
    if kind == "endpoint" and len(with_principal) != len(statements):
        return "a resource policy with statements lacking a Principal"
    return None


def main(accepted_path, files):
    community = Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
    override_config(str(community))
    accepted = load_accepted(accepted_path)
    used = set()
    by_severity = Counter()
    accepted_count = 0
    kinds = Counter()

    for f in sorted(files, key=lambda p: Path(p).name):
        name = Path(f).name
        kind = kind_of(name)
        if kind is None:
            fail(f"sample {name}", "neither operator-*.json nor endpoint-*.json")
            continue
        kinds[kind] += 1
        text = Path(f).read_text()
        try:
            problem = shape_problem(kind, json.loads(text))
        except json.JSONDecodeError as e:
            problem = f"not JSON ({e})"
        if problem:
            fail(f"sample {name}", problem)
            continue

        policy = analyze_policy_string(text, name, include_community_auditors=True,
                                       config=parliament.config)
        accepted_here = []
        file_failed = failed
        for finding in policy.findings:
            finding = enhance_finding(finding)
            sev = finding.severity
            by_severity[sev] += 1
            sid = statement_sid(policy, finding.location)
            where = f" in statement {sid}" if sid else ""
            what = f"{sev} {finding.issue} ({finding.title}){where}: {json.dumps(finding.detail)}"
            if SEVERITIES.index(sev) >= SEVERITIES.index("MEDIUM"):
                fail(f"parliament {name}", what)
            elif sev == "LOW":
                match = [e for e in accepted
                         if fnmatch.fnmatch(name, e[1]) and e[2] == finding.issue]
                if match:
                    used.update(e[0] for e in match)
                    accepted_here.append(f"{finding.issue}{where}")
                    accepted_count += 1
                else:
                    fail(f"parliament {name}",
                         f"{what} (not in {accepted_path}: fix the policy, or accept it there "
                         f"with a reason)")
            else:
                print(f"  {name}: {what}")
        if failed == file_failed:
            note = f"accepted LOW: {', '.join(accepted_here)}" if accepted_here else "no findings"
            ok(f"parliament {name} ({kind}): {note}")

    for kind in ("operator", "endpoint"):
        if not kinds[kind]:
            fail(f"samples: {kind}", f"no {kind}-*.json sample among {len(files)} file(s)")
    for n, glob, issue, _ in accepted:
        if n not in used:
            fail(f"{accepted_path}:{n}", f"{glob} {issue} matched no finding: remove it")

    counts = ", ".join(f"{s} {by_severity[s]}" for s in reversed(SEVERITIES[1:]))
    print(f"  parliament {parliament.__version__}: {sum(kinds.values())} policies checked "
          f"({kinds['operator']} operator, {kinds['endpoint']} endpoint); findings: {counts} "
          f"({accepted_count} LOW accepted)")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
