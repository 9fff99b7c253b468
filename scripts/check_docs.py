"""Every relative link in README.md and docs/*.md leads somewhere.

A link to a file must name a file or folder that exists in the repository; a
link with a fragment (`page.md#heading`, `#heading`) must name a heading of
that page, by the anchor GitHub gives it (lower case, punctuation dropped,
spaces as hyphens, `-1`, `-2` ... for repeated headings). Links in code spans
and fenced code blocks are not links; web addresses are not checked.

docs/running-locally.md is written separately from the other pages: until it
is in the tree, the links to it fail here, as any missing page does.

Usage: python3 scripts/check_docs.py [FILE.md ...]   default: README.md docs/*.md
Exit status: 0 every link resolves, 1 otherwise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks, with code spans blanked."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, re.sub(r"`[^`]*`", lambda m: " " * len(m.group(0)), line)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not m:
            continue
        base = slug(m.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def check(path: Path) -> list[str]:
    problems = []
    text = path.read_text(encoding="utf-8")
    for number, line in prose_lines(text):
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            file_part, _, fragment = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(REPO_ROOT)}:{number}: {target}"
            if REPO_ROOT not in resolved.parents and resolved != REPO_ROOT:
                problems.append(f"{where}: leads out of the repository")
            elif not resolved.exists():
                problems.append(f"{where}: {resolved.relative_to(REPO_ROOT)} does not exist")
            elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
                page = resolved.relative_to(REPO_ROOT)
                problems.append(f"{where}: no heading with the anchor #{fragment} in {page}")
    return problems


def main() -> int:
    default = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    files = [Path(a).resolve() for a in sys.argv[1:]] or default
    problems = [p for f in files for p in check(f)]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} broken link(s)")
        return 1
    print(f"every relative link resolves in {len(files)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
