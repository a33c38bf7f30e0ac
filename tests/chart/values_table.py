#!/usr/bin/env python3
"""The values table of charts/vpcgate/README.md against charts/vpcgate/values.yaml.

    values_table.py check  [CHART_DIR]   every leaf key of values.yaml is a row of the README's
                                         table with the same type and default, and no other rows
    values_table.py print  [CHART_DIR]   prints the table generated from values.yaml (descriptions
                                         from the "# --" comments), to paste into the README

A leaf is a scalar, a list, an empty map, or a map whose key has its own "# --" comment
(documented as a whole, e.g. networkPolicy.dns.podLabels). Defaults are compared as values: the
table's default cell is JSON. Only the standard library and PyYAML.
"""

import json
import re
import sys
from pathlib import Path

import yaml

KEY_LINE = re.compile(r"^( *)([A-Za-z0-9_.-]+):(\s|$)")


def documented_keys(values_text):
    """Maps each key path ("a.b.c") that has a "# --" comment to its description."""
    docs = {}
    stack = []  # (indent, key)
    pending = None  # lines of the current "# --" comment
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
            continue
        if not stripped:
            pending = None
            continue
        m = KEY_LINE.match(line)
        if not m:
            pending = None
            continue
        indent, key = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if pending is not None:
            docs[".".join(k for _, k in stack)] = " ".join(p for p in pending if p)
        pending = None
    return docs


def leaves(values, docs, prefix=""):
    """[(path, value)] in file order."""
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in docs:
            out.extend(leaves(value, docs, path + "."))
        else:
            out.append((path, value))
    return out


def type_name(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    raise TypeError(f"unexpected value {value!r}")


def load(chart):
    text = (chart / "values.yaml").read_text()
    docs = documented_keys(text)
    return leaves(yaml.safe_load(text), docs), docs


def split_row(line):
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip().replace("\\|", "|") for c in cells[1:-1]]


def unquote(cell):
    if len(cell) >= 2 and cell[0] == "`" and cell[-1] == "`":
        return cell[1:-1]
    return cell


def table_rows(readme_text):
    """Rows of the table whose header is | Key | Type | Default | Description |."""
    rows, in_table = [], False
    for n, line in enumerate(readme_text.splitlines(), 1):
        if not line.startswith("|"):
            in_table = False
            continue
        cells = split_row(line)
        if [c.lower() for c in cells] == ["key", "type", "default", "description"]:
            in_table = True
            continue
        if in_table and not all(set(c) <= set("-: ") for c in cells):
            rows.append((n, cells))
    return rows


def check(chart):
    expected, _ = load(chart)
    rows = table_rows((chart / "README.md").read_text())
    problems = []
    if not rows:
        problems.append("README.md has no | Key | Type | Default | Description | table")
    seen = {}
    for n, cells in rows:
        if len(cells) != 4:
            problems.append(f"README.md:{n}: expected 4 cells, found {len(cells)}")
            continue
        key = unquote(cells[0])
        if key in seen:
            problems.append(f"README.md:{n}: {key} is listed twice (also line {seen[key][0]})")
            continue
        seen[key] = (n, cells)
    want = dict(expected)
    for key, (n, (_, typ, default, desc)) in seen.items():
        if key not in want:
            problems.append(f"README.md:{n}: {key} is not a key of values.yaml")
            continue
        value = want[key]
        try:
            documented = json.loads(unquote(default))
        except json.JSONDecodeError:
            problems.append(f"README.md:{n}: {key}: default {default} is not JSON")
            continue
        if documented != value or type_name(documented) != type_name(value):
            problems.append(f"README.md:{n}: {key}: default {default}, values.yaml has {json.dumps(value)}")
        if typ != type_name(value):
            problems.append(f"README.md:{n}: {key}: type {typ}, values.yaml has {type_name(value)}")
        if not desc:
            problems.append(f"README.md:{n}: {key} has no description")
    for key, _ in expected:
        if key not in seen:
            problems.append(f"{key} (values.yaml) is missing from the README's table")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def print_table(chart):
    expected, docs = load(chart)
    print("| Key | Type | Default | Description |")
    print("|---|---|---|---|")
    for key, value in expected:
        default = json.dumps(value, separators=(", ", ": "))
        desc = docs.get(key, "").replace("|", "\\|")
        print(f"| `{key}` | {type_name(value)} | `{default}` | {desc} |")
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] not in ("check", "print"):
        print(__doc__, file=sys.stderr)
        return 2
    chart = Path(argv[2]) if len(argv) > 2 else Path("charts/vpcgate")
    return check(chart) if argv[1] == "check" else print_table(chart)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
