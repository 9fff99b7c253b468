"""Find import cycles between the modules of each crate.

A crate whose modules import each other in a circle has no layering: none of
them can be read, tested or changed without the others. This script maps the
files of each crate to module paths, collects which module refers to which,
and reports every cycle, with the line that makes each edge.

Modules and files:
  lib.rs / main.rs      the crate root
  foo.rs, foo/mod.rs    `foo`
  foo/bar.rs            `foo::bar`
  bin/*.rs              separate crates, skipped

Edges come from paths that name a module of the same crate: `use crate::a::b`
(also grouped, `use crate::{a, b::{c, d}}`, and `pub use`), `super::` and
`self::` paths, and the same paths written inline in code (`crate::a::f()`).
Each path is resolved to the longest prefix that is a module; a name that a
module re-exports with `pub use` is followed to the module it comes from
(`crate::Plan` in a crate whose root says `pub use plan::Plan` is an edge to
`plan`). Comments, string literals and `#[cfg(test)] mod ... { }` blocks are
left out: documentation links and test helpers do not make a layering.

Where cycles are looked for: a module and its submodules count as one node,
and cycles are searched among the children of every module, i.e. among the
top-level modules of the crate and among the siblings of each folder. An
edge between a module and its own ancestor or descendant (a parent declaring
`mod child`, a child using `super::` items of its parent) is not counted.

Usage:
  python3 scripts/check_module_cycles.py [CRATE_SRC ...]   default: handler/src reconciler-core/src
  python3 scripts/check_module_cycles.py --self-test

Exit status: 0 no cycle, 1 cycles found, 2 bad usage.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CRATES = ["handler/src", "reconciler-core/src"]
MAX_CYCLES_PER_GRAPH = 200

Module = tuple  # a module path: () is the crate root, ("aws", "ec2") is aws::ec2


def module_name(module: Module) -> str:
    return "::".join(module) if module else "crate"


# ---------------------------------------------------------------- files to modules


def crate_modules(src: Path) -> dict[Module, Path]:
    """Every module of the crate whose sources are under `src`, with its file."""
    modules: dict[Module, Path] = {}
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(src)
        parts = list(rel.parts)
        if parts[0] == "bin":
            continue
        if len(parts) == 1 and parts[0] in ("lib.rs", "main.rs"):
            modules[()] = path
            continue
        if parts[-1] == "mod.rs":
            parts = parts[:-1]
        else:
            parts[-1] = parts[-1][: -len(".rs")]
        modules[tuple(parts)] = path
    return modules


# ---------------------------------------------------------------- reading Rust source


RAW_STRING = re.compile(r'r(#*)"')
CHAR_LITERAL = re.compile(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'")


def strip_comments_and_strings(text: str) -> str:
    """The source with comments and string/char literals blanked out.

    Newlines are kept, so line numbers stay right."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j == -1 else j
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and RAW_STRING.match(text, i) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = RAW_STRING.match(text, i).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end == -1 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i : j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{7}') or a lifetime ('a): blank only literals.
            m = CHAR_LITERAL.match(text, i)
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_test_modules(code: str) -> str:
    """`#[cfg(test)] mod name { ... }` blocks blanked out (lines kept)."""
    pattern = re.compile(
        r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]\s*"  # #[cfg(test)]
        r"(?:#\s*\[[^\]]*\]\s*)*"  # more attributes
        r"(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{"
    )
    while True:
        m = pattern.search(code)
        if not m:
            return code
        depth, j = 1, m.end()
        while j < len(code) and depth:
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
            j += 1
        code = code[: m.start()] + re.sub(r"[^\n]", " ", code[m.start() : j]) + code[j:]


def expand_use_tree(tree: str) -> list[tuple[list[str], str | None]]:
    """`crate::{a, b::{c, d}}` -> ['crate','a'], ['crate','b','c'], ['crate','b','d'] (second
    member of each pair unused: aliases are split by `split_alias`)."""
    tree = re.sub(r"\s+", "", tree)

    def parse(s: str, prefix: list[str]) -> list[tuple[list[str], str | None]]:
        s = s.strip(":")
        if not s:
            return []
        brace = s.find("{")
        if brace == -1:
            return [(prefix + [p for p in s.split("::") if p], None)]
        head = [p for p in s[:brace].split("::") if p]
        body = s[brace + 1 : s.rfind("}")]
        parts, depth, start = [], 0, 0
        for k, ch in enumerate(body):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(body[start:k])
                start = k + 1
        parts.append(body[start:])
        result = []
        for part in parts:
            result.extend(parse(part, prefix + head))
        return result

    return parse(tree, [])


def use_statements(code: str):
    """(line, tree text, is_pub) of every `use` declaration."""
    pattern = re.compile(r"(?<![\w:])(pub(?:\s*\([^)]*\))?\s+)?use\s+([^;]+);")
    for m in pattern.finditer(code):
        yield code.count("\n", 0, m.start()) + 1, m.group(2), bool(m.group(1)), m.span()


def split_alias(segments: list[str]) -> tuple[list[str], str | None]:
    """`parse_uses` marks `name as alias` as `name\x00alias` before the
    whitespace goes; split it back."""
    last = segments[-1] if segments else ""
    if "\x00" in last:
        name, alias = last.split("\x00", 1)
        return segments[:-1] + [name], alias
    return segments, None


def parse_uses(code: str):
    """(line, segments, alias, is_pub) for every leaf path of every `use`."""
    for line, tree, is_pub, span in use_statements(code):
        marked = re.sub(r"\s+as\s+", "\x00", tree)
        for segments, _ in expand_use_tree(marked):
            segments, alias = split_alias(segments)
            yield line, segments, alias, is_pub, span


INLINE_PATH = re.compile(r"(?<![\w:])((?:crate|super|self)(?:\s*::\s*(?:super|[A-Za-z_]\w*))+)")


def inline_paths(code: str, use_spans: list[tuple[int, int]]):
    """(line, segments) of `crate::`/`super::`/`self::` paths outside `use` declarations."""
    for m in INLINE_PATH.finditer(code):
        if any(a <= m.start() < b for a, b in use_spans):
            continue
        segments = [s.strip() for s in m.group(1).split("::")]
        yield code.count("\n", 0, m.start()) + 1, segments


# ---------------------------------------------------------------- resolving paths


def absolute(module: Module, segments: list[str]) -> list[str] | None:
    """The path as segments from the crate root, or None when it leaves the crate."""
    if not segments:
        return None
    head, rest = segments[0], segments[1:]
    if head == "crate":
        base = []
    elif head == "self":
        base = list(module)
    elif head == "super":
        base = list(module)
        rest = segments
        while rest and rest[0] == "super":
            if not base:
                return None
            base = base[:-1]
            rest = rest[1:]
        if rest and rest[0] == "self":
            rest = rest[1:]
    else:
        return None  # another crate, or a child named without a prefix (a descendant)
    return base + [s for s in rest if s != "self"]


def resolve(path: list[str], modules: set[Module], reexports: dict[tuple[Module, str], Module]) -> Module:
    """The module a crate-absolute path names, following `pub use` re-exports."""
    seen = set()
    while True:
        k = 0
        while k < len(path) and tuple(path[: k + 1]) in modules:
            k += 1
        module = tuple(path[:k])
        if k < len(path) and (module, path[k]) in reexports and (module, path[k]) not in seen:
            seen.add((module, path[k]))
            source = reexports[(module, path[k])]
            # The name is an item of `source`; keep it, since it may itself be
            # a re-export there.
            path = list(source) + path[k:]
            continue
        return module


def ancestor_or_descendant(a: Module, b: Module) -> bool:
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return long[: len(short)] == short


# ---------------------------------------------------------------- the graph


def crate_edges(src: Path):
    """{(from, to): [(file, line), ...]} between modules of one crate."""
    files = crate_modules(src)
    modules = set(files)
    codes = {}
    for module, path in files.items():
        codes[module] = strip_test_modules(strip_comments_and_strings(path.read_text(encoding="utf-8")))

    # Re-exports: `pub use a::B` in module M makes M::B an alias of a's item.
    reexports: dict[tuple[Module, str], Module] = {}
    for _ in range(3):  # chains of re-exports settle in a few rounds
        for module, code in codes.items():
            for _, segments, alias, is_pub, _ in parse_uses(code):
                if not is_pub or not segments or segments[-1] in ("*", "self"):
                    continue
                if segments[0] in ("crate", "super", "self"):
                    path = absolute(module, segments)
                else:
                    path = list(module) + segments  # `pub use child::Item` (edition 2018 paths)
                if path is None:
                    continue
                source = resolve(path[:-1], modules, reexports)
                if tuple(path[: len(source)]) != source:
                    continue
                name = alias or segments[-1]
                if source != module:
                    reexports[(module, name)] = source

    edges: dict[tuple[Module, Module], list[tuple[Path, int]]] = defaultdict(list)
    for module, code in codes.items():
        spans = []
        refs = []
        for line, segments, _, _, span in parse_uses(code):
            spans.append(span)
            refs.append((line, segments if segments[-1:] != ["*"] else segments[:-1]))
        refs.extend(inline_paths(code, spans))
        for line, segments in refs:
            path = absolute(module, segments)
            if path is None:
                continue
            target = resolve(path, modules, reexports)
            if target != module:
                edges[(module, target)].append((files[module], line))
    return modules, edges


def sibling_graphs(modules: set[Module], edges):
    """For every module with children: the graph among its children, each child
    standing for itself and all its descendants."""
    graphs = {}
    for parent in sorted(modules | {()}):
        below = [m for m in modules if len(m) > len(parent) and m[: len(parent)] == parent]
        children = sorted({m[: len(parent) + 1] for m in below})
        if len(children) < 2:
            continue
        graph: dict[Module, dict[Module, list]] = {c: defaultdict(list) for c in children}
        for (a, b), where in edges.items():
            if ancestor_or_descendant(a, b):
                continue
            if a[: len(parent)] != parent or b[: len(parent)] != parent:
                continue
            if len(a) <= len(parent) or len(b) <= len(parent):
                continue
            ca, cb = a[: len(parent) + 1], b[: len(parent) + 1]
            if ca != cb:
                graph[ca][cb].extend(where)
        graphs[parent] = graph
    return graphs


def elementary_cycles(graph) -> list[list]:
    """Every elementary cycle, each once, starting at its smallest node."""
    nodes = sorted(graph)
    cycles = []
    for start in nodes:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph[node], reverse=True):
                if nxt == start:
                    cycles.append(path + [start])
                    if len(cycles) >= MAX_CYCLES_PER_GRAPH:
                        return cycles
                elif nxt > start and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    cycles.sort(key=lambda c: (len(c), c))
    return cycles


def check_crate(src: Path, out=sys.stdout, root: Path = REPO_ROOT) -> int:
    """Prints the crate's cycles; returns how many were found."""
    modules, edges = crate_edges(src)
    try:
        label = src.relative_to(root)
    except ValueError:
        label = src
    found = 0
    for parent, graph in sibling_graphs(modules, edges).items():
        for cycle in elementary_cycles(graph):
            found += 1
            last = lambda m: m[-1]
            where = "top level" if parent == () else f"inside {module_name(parent)}"
            print(f"{label}: cycle ({where}): {' → '.join(last(m) for m in cycle)}", file=out)
            for a, b in zip(cycle, cycle[1:]):
                file, line = graph[a][b][0]
                try:
                    shown = file.relative_to(root)
                except ValueError:
                    shown = file
                more = len(graph[a][b]) - 1
                extra = f" (and {more} more)" if more else ""
                print(f"    {module_name(a)} → {module_name(b)}: {shown}:{line}{extra}", file=out)
    return found


# ---------------------------------------------------------------- self-test


def _tree(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return base


def self_test() -> int:
    import io

    cases = [
        (
            "a DAG passes",
            {
                "lib.rs": "pub mod a;\npub mod b;\npub mod c;\npub use c::Thing;\n",
                "a.rs": "use crate::b::B;\nuse crate::{c::Thing, b};\nfn f() { crate::c::g(); }\n",
                "b.rs": "use crate::c::Thing;\n",
                "c.rs": "pub struct Thing;\npub fn g() {}\n",
                "bin/tool.rs": "use crate::a::X; // a separate crate, skipped\n",
            },
            [],
        ),
        (
            "a two-module cycle through a grouped use",
            {
                "lib.rs": "mod a;\nmod b;\n",
                "a.rs": "use crate::{b::{B1, B2 as Two}};\n",
                "b.rs": "pub fn f() -> crate::a::A { todo!() }\n",
            },
            ["a → b → a"],
        ),
        (
            "a three-module cycle through a root re-export",
            {
                "lib.rs": "mod a;\nmod b;\nmod c;\npub use c::Cee;\n",
                "a.rs": "use crate::b::B;\n",
                "b.rs": "use crate::Cee;\n",
                "c.rs": "use crate::a;\nfn f() { a::g(); }\n",
            },
            ["a → b → c → a"],
        ),
        (
            "siblings inside a folder, through super::",
            {
                "lib.rs": "mod x;\n",
                "x/mod.rs": "mod y;\nmod z;\nuse self::y::Y;\n",
                "x/y.rs": "use super::z::Z;\nuse super::Parent; // the parent: not counted\n",
                "x/z.rs": "fn f() { super::y::g(); }\n",
            },
            ["y → z → y"],
        ),
        (
            "parents, children, comments, strings and tests make no edge",
            {
                "lib.rs": "mod p;\nmod q;\n",
                "p/mod.rs": "mod child;\nuse child::C;\n/// See [`crate::q::Q`].\nconst S: &str = \"crate::q::Q\";\n",
                "p/child.rs": "use crate::p::P;\nuse super::*;\n/* crate::q::Q */\n",
                "q.rs": "use crate::p::child::C;\n#[cfg(test)]\nmod tests {\n    use crate::p::P;\n    fn t() { let _ = '{'; }\n}\n",
            },
            [],
        ),
    ]
    failures = 0
    for name, files, expected in cases:
        with tempfile.TemporaryDirectory() as tmp:
            src = _tree(Path(tmp) / "src", files)
            buffer = io.StringIO()
            found = check_crate(src, buffer, Path(tmp))
            lines = [line.split(": ", 2)[-1] for line in buffer.getvalue().splitlines() if "cycle" in line]
            ok = found == len(expected) and lines == expected
            print(f"{'ok  ' if ok else 'FAIL'} {name}")
            if not ok:
                failures += 1
                print(f"     expected {expected}, got {lines}\n{buffer.getvalue()}")
    # The comment/string/char-literal stripper keeps line numbers.
    sample = "a // x\n/* y\n z */ b \"c\nd\" 'e' r#\"f\"# g\n"
    stripped = strip_comments_and_strings(sample)
    ok = stripped.count("\n") == sample.count("\n") and "b" in stripped and "g" in stripped and not any(
        ch in stripped for ch in "xyzcdef"
    )
    print(f"{'ok  ' if ok else 'FAIL'} comments and literals are blanked, lines kept")
    failures += not ok
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("crates", nargs="*", default=DEFAULT_CRATES, help="crate source folders (default: %(default)s)")
    parser.add_argument("--self-test", action="store_true", help="check the checker on small synthetic crates")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    total = 0
    for crate in args.crates:
        src = (REPO_ROOT / crate) if not Path(crate).is_absolute() else Path(crate)
        if not src.is_dir():
            print(f"{crate}: not a directory", file=sys.stderr)
            return 2
        total += check_crate(src)
    if total:
        print(f"{total} module import cycle(s): break each by moving what both sides need into a module below them.")
        return 1
    print(f"no module import cycles in {', '.join(args.crates)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
