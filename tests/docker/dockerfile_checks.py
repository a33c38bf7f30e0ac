#!/usr/bin/env python3
"""Static checks of the Dockerfile and .dockerignore, for tests/docker/test.sh (no Docker engine).

  dockerfile_checks.py flags              print the builder's CARGO_BUILD_FLAGS (the one place)
  dockerfile_checks.py static             check the image's shape; prints `ok ...`/`FAIL ...`
  dockerfile_checks.py context DEPINFO    check that every repo file the release build read
                                          (cargo's dep-info DEPINFO) reaches the builder: copied
                                          by a COPY and not left out by .dockerignore

Only the standard library; the parser covers the Dockerfile subset this repo uses (line
continuations, comments, JSON-form ENTRYPOINT, `KEY="value"` ARG/LABEL pairs, `${ARG}` in a
LABEL value, `FROM --platform=...`).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

RUNTIME_IMAGE = "gcr.io/distroless/cc-debian12:nonroot"
RUNTIME_USER = "65532:65532"
ENTRYPOINT = ["/vpcgate", "run"]
PORT = "8080"
REQUIRED_LABELS = (
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.licenses",
)
# Never in the build context: build output, local tools, VCS data.
MUST_BE_IGNORED = ("target/release/vpcgate", ".git/HEAD", ".venv/bin/python",
                   ".cache/tools-venv/bin/python", "vpcgate.log")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comment lines inside a continued instruction
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    if buf.strip():
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(text: str) -> list[dict]:
    """Stages in order: {'from': image, 'name': alias or None, 'platform': --platform or None,
    'ins': [(INSTR, args), ...]}."""
    result: list[dict] = []
    for ins, args in instructions(text):
        if ins == "FROM":
            parts = [p for p in args.split() if not p.startswith("--")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            platform = next((p.partition("=")[2] for p in args.split()
                             if p.startswith("--platform=")), None)
            result.append({"from": parts[0], "name": name, "platform": platform, "ins": []})
        elif result:
            result[-1]["ins"].append((ins, args))
    return result


def pairs(args: str) -> dict[str, str]:
    """`K1="v 1" K2=v2` (ARG, LABEL, ENV) as a dict."""
    out = {}
    for tok in shlex.split(args):
        key, eq, value = tok.partition("=")
        out[key] = value if eq else ""
    return out


def expand(value: str, args: dict[str, str]) -> str:
    """`${NAME}` and `$NAME` replaced by the ARG defaults in `args` (unknown names stay)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)",
                  lambda m: args.get(m.group(1) or m.group(2), m.group(0)), value)


def build_flags(text: str) -> str:
    builder = stages(text)[0]
    for ins, args in builder["ins"]:
        if ins == "ARG":
            flags = pairs(args).get("CARGO_BUILD_FLAGS")
            if flags:
                return flags
    raise SystemExit("Dockerfile: no ARG CARGO_BUILD_FLAGS=... in the builder stage")


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def check(self, name: str, ok: bool, reason: str = "") -> None:
        if ok:
            print(f"ok {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {reason}")


def static(text: str) -> int:
    r = Report()
    st = stages(text)
    final = st[-1]
    builder = st[0]
    r.check("dockerfile: multi-stage", len(st) >= 2, f"{len(st)} stage(s)")
    r.check("dockerfile: builder is a pinned rust bookworm image",
            re.fullmatch(r"rust:\d+\.\d+(\.\d+)?-(slim-)?bookworm", builder["from"]) is not None,
            f"builder FROM {builder['from']}")
    r.check("dockerfile: runtime is distroless cc nonroot", final["from"] == RUNTIME_IMAGE,
            f"final FROM {final['from']}, want {RUNTIME_IMAGE}")

    run_lines = [a for i, a in builder["ins"] if i == "RUN"]
    flags = build_flags(text)
    r.check("dockerfile: flags build the vpcgate release binary, locked",
            all(f in flags.split() for f in ("--release", "--locked")) and "--bin vpcgate" in flags,
            f"CARGO_BUILD_FLAGS={flags!r}")
    # The native build of tests/docker/test.sh uses the flags alone: the triple stays out of them.
    r.check("dockerfile: CARGO_BUILD_FLAGS name no target (the RUN passes --target)",
            not any(f == "--target" or f.startswith("--target=") for f in flags.split()),
            f"CARGO_BUILD_FLAGS={flags!r}")
    builds = [a for a in run_lines if "cargo build" in a]
    r.check("dockerfile: every cargo build uses CARGO_BUILD_FLAGS",
            len(builds) >= 2 and all("cargo build ${CARGO_BUILD_FLAGS}" in a for a in builds),
            f"{len(builds)} cargo build RUN(s): {builds}")
    # Multi-arch by cross-compilation: the builder runs on the build machine's platform and every
    # build names the target's triple, picked from TARGETARCH; the binary comes from its directory.
    r.check("dockerfile: builder runs on the build platform (FROM --platform=$BUILDPLATFORM)",
            builder["platform"] in ("$BUILDPLATFORM", "${BUILDPLATFORM}"),
            f"builder --platform={builder['platform']}")
    builder_args = [a for i, a in builder["ins"] if i == "ARG"]
    r.check("dockerfile: builder declares ARG TARGETARCH",
            any("TARGETARCH" in pairs(a) for a in builder_args), f"ARGs {builder_args}")
    triples = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")
    r.check("dockerfile: TARGETARCH picks the Rust triple (amd64 and arm64)",
            any("TARGETARCH" in a and all(t in a for t in triples) for a in run_lines),
            f"no RUN maps TARGETARCH to {triples}")
    r.check("dockerfile: every cargo build passes --target",
            builds and all(re.search(r"cargo build \$\{CARGO_BUILD_FLAGS\} --target[ =]\S", a)
                           for a in builds), f"{builds}")
    envs: dict[str, str] = {}
    for i, a in builder["ins"]:
        if i == "ENV":
            envs.update(pairs(a))
    r.check("dockerfile: cross linker for aarch64",
            envs.get("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER") == "aarch64-linux-gnu-gcc",
            f"CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER={envs.get('CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER')!r}")
    r.check("dockerfile: the binary comes from target/<triple>/release",
            any(re.search(r"cp \"?target/[^/\s]*(\$\([^)]*\))?[^/\s]*/release/vpcgate\"? /vpcgate", a) for a in builds),
            f"no `cp target/<triple>/release/vpcgate /vpcgate` in {builds}")
    seq = [(i, a) for i, a in builder["ins"] if i in ("COPY", "RUN")]
    copies_b = [n for n, (i, _) in enumerate(seq) if i == "COPY"]
    first_copy = seq[copies_b[0]] if copies_b else None
    src_copy = next((n for n in copies_b if "src" in seq[n][1].split()
                     or "./src" in seq[n][1].split()), None)
    manifest_first = (first_copy is not None and "Cargo.lock" in first_copy[1]
                      and "src" not in first_copy[1].split() and src_copy is not None
                      and any(i == "RUN" and "cargo build" in a
                              for i, a in seq[copies_b[0] + 1:src_copy]))
    r.check("dockerfile: dependencies cached before the sources are copied", bool(manifest_first),
            f"want COPY of Cargo.toml/Cargo.lock, a cargo build, then COPY src; builder has {seq}")

    final_ins = [i for i, _ in final["ins"]]
    users = [a for i, a in final["ins"] if i == "USER"]
    r.check("dockerfile: runs as numeric non-root user", users[-1:] == [RUNTIME_USER],
            f"USER {users}")
    r.check("dockerfile: no RUN in the runtime stage (no shell there)", "RUN" not in final_ins,
            "the runtime stage has RUN")
    eps = [a for i, a in final["ins"] if i == "ENTRYPOINT"]
    try:
        ep = json.loads(eps[-1]) if eps else None
    except json.JSONDecodeError:
        ep = eps[-1]
    r.check("dockerfile: exec-form ENTRYPOINT /vpcgate run", ep == ENTRYPOINT, f"ENTRYPOINT {ep}")
    exposes = [a for i, a in final["ins"] if i == "EXPOSE"]
    r.check("dockerfile: EXPOSE 8080", any(PORT in a.split() for a in exposes), f"EXPOSE {exposes}")
    copies = [a for i, a in final["ins"] if i in ("COPY", "ADD")]
    r.check("dockerfile: runtime stage gets only the binary",
            copies == ["--from=builder /vpcgate /vpcgate"], f"{copies}")

    # LABEL values see the ARG defaults declared before them in the stage (and the global ARGs
    # that the stage declares again without a default; not used here).
    labels: dict[str, str] = {}
    raw_labels: dict[str, str] = {}
    stage_args: dict[str, str] = {}
    for i, a in final["ins"]:
        if i == "ARG":
            stage_args.update(pairs(a))
        if i == "LABEL":
            raw_labels.update(pairs(a))
            labels.update({k: expand(v, stage_args) for k, v in pairs(a).items()})
    r.check("dockerfile: version label is ARG VERSION (a build argument)",
            raw_labels.get("org.opencontainers.image.version") in ("${VERSION}", "$VERSION")
            and bool(stage_args.get("VERSION")),
            f"label {raw_labels.get('org.opencontainers.image.version')!r}, "
            f"ARG VERSION default {stage_args.get('VERSION')!r}")
    missing = [k for k in REQUIRED_LABELS if not labels.get(k)]
    r.check("dockerfile: OCI labels", not missing, f"missing {missing}")
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]
    r.check("dockerfile: version label matches Cargo.toml",
            labels.get("org.opencontainers.image.version") == cargo["version"],
            f"label {labels.get('org.opencontainers.image.version')!r}, "
            f"Cargo.toml {cargo['version']!r}")
    r.check("dockerfile: licenses label matches Cargo.toml",
            labels.get("org.opencontainers.image.licenses") == cargo["license"],
            f"label {labels.get('org.opencontainers.image.licenses')!r}, "
            f"Cargo.toml {cargo['license']!r}")
    return r.failed


# --- .dockerignore, with the semantics of moby's patternmatcher -------------------------------

def _glob_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                cls = pattern[i + 1:j]
                out += "[" + ("^" + cls[1:] if cls.startswith("^") else cls) + "]"
                i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern]]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pat = line[1:].strip() if negate else line
        pat = re.sub(r"/+", "/", pat).strip("/") or "."
        if pat.startswith("./"):
            pat = pat[2:]
        rules.append((negate, _glob_regex(pat)))
    return rules


def ignored(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Whether the context leaves `path` (repo-relative, with /) out: last matching rule wins,
    and a rule matches a path or any of its parent directories."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negate, rx in rules:
        if any(rx.match(p) for p in prefixes):
            result = not negate
    return result


def copied(path: str, sources: list[str]) -> bool:
    for src in sources:
        src = src.rstrip("/")
        if src in (".", "") or path == src or path.startswith(src + "/"):
            return True
    return False


def context(text: str, depinfo: Path) -> int:
    r = Report()
    rules = ignore_rules(DOCKERIGNORE.read_text() if DOCKERIGNORE.exists() else "")
    builder = stages(text)[0]
    sources: list[str] = []
    for ins, args in builder["ins"]:
        if ins in ("COPY", "ADD"):
            toks = [t for t in shlex.split(args) if not t.startswith("--")]
            if any(t.startswith("--from") for t in shlex.split(args)):
                continue
            sources.extend(toks[:-1])

    # dep-info: `target: dep dep ...`, spaces inside paths escaped as `\ `.
    deps: list[str] = []
    for line in depinfo.read_text().splitlines():
        if ":" not in line or line.startswith("#"):
            continue
        _, _, rest = line.partition(": ")
        deps.extend(d.replace("\0", " ") for d in rest.replace("\\ ", "\0").split())
    inside = sorted({str(Path(d).resolve().relative_to(REPO)) for d in deps
                     if Path(d).resolve().is_relative_to(REPO)})
    # Cargo reads these too without listing them in the dep-info.
    needed = ["Cargo.toml", "Cargo.lock"] + inside
    r.check("context: dep-info lists the crate's sources", "src/main.rs" in inside,
            f"{depinfo} lists {len(inside)} repo file(s)")
    not_copied = [p for p in needed if not copied(p, sources)]
    r.check("context: every file the build reads is COPYed into the builder", not not_copied,
            f"not copied by {sources}: {not_copied[:10]}")
    left_out = [p for p in needed if ignored(p, rules)]
    r.check("context: .dockerignore lets in every file the build reads", not left_out,
            f"left out: {left_out[:10]}")
    let_in = [p for p in MUST_BE_IGNORED if not ignored(p, rules)]
    r.check("context: .dockerignore leaves out target/, .git, .venv/, .cache/, logs", not let_in,
            f"let in: {let_in}")
    return r.failed


def main(argv: list[str]) -> int:
    text = DOCKERFILE.read_text()
    if argv[1:2] == ["flags"]:
        print(build_flags(text))
        return 0
    if argv[1:2] == ["static"]:
        return 1 if static(text) else 0
    if argv[1:2] == ["context"] and len(argv) == 3:
        return 1 if context(text, Path(argv[2])) else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
