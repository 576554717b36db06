"""Every repository path the README and ``docs/`` name exists in the tree: a file moved or
renamed must take its mentions along."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: A mention is a repository path when it starts with one of these.
TOP_DIRS = ("quorra", "tests", "bench", "docs", "deployments", "proto")
TOP_FILES = {"Dockerfile", "Makefile", "compose.yaml", "pyproject.toml", "README.md"}
#: Outputs the benchmarks write (ignored by git), named where the docs say where to look.
WRITTEN_BY_RUNS = {"bench/results/soak.json", "bench/results/results.md"}

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_WORD = re.compile(r"[\w./*{},-]+")


def _is_repo_path(text: str) -> bool:
    first = text.split("/", 1)[0]
    return ("/" in text and first in TOP_DIRS) or text in TOP_FILES


def _clean(text: str) -> str:
    """``docs/architecture.md#picture`` → the file; trailing punctuation dropped."""
    return text.split("#", 1)[0].rstrip(".,;")


def _mentions(doc: Path) -> set[str]:
    """Repository paths (relative to the root) a document names: in code spans, in links
    (relative to the document) and as words of its code blocks."""
    text = doc.read_text()
    fences = _FENCE.findall(text)
    prose = _FENCE.sub("", text)
    words = [w for part in [*_CODE_SPAN.findall(prose), *fences] for w in _WORD.findall(part)]
    paths = {_clean(w) for w in words if _is_repo_path(_clean(w))}
    for target in _LINK.findall(prose):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        resolved = (doc.parent / _clean(target)).resolve()
        paths.add(str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else target)
    return paths


def _exists(path: str) -> bool:
    if any(c in path for c in "*{"):
        return any(ROOT.glob(path.split("{", 1)[0].rstrip("/") or "."))
    return (ROOT / path).exists()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_named_path_exists(doc: Path) -> None:
    missing = sorted(p for p in _mentions(doc) - WRITTEN_BY_RUNS if not _exists(p))
    assert missing == [], f"{doc.relative_to(ROOT)} names paths not in the tree: {missing}"


def test_the_check_sees_paths() -> None:
    """The parser finds the kinds of mention the docs use (code span, link, code block)."""
    readme = _mentions(ROOT / "README.md")
    assert {"bench/peers_bench.py", "docs/architecture.md", "proto/quorra.proto"} <= readme
    architecture = _mentions(ROOT / "docs" / "architecture.md")
    assert {"quorra/worker/threads.py", "quorra/db/pool.py"} <= architecture


def test_architecture_lists_every_housekeeping_chore() -> None:
    """Each chore the scheduler runs (``Housekeeping``, the composition root's ``add_chore``
    and the drivers' ``chores()``) has its row in docs/architecture.md's Housekeeping
    section."""
    chore = re.compile(r"""(?:add_chore|_add)\(\s*"(\w+)"|\("(\w+)",\s*self\.[\w.]+,\s*[\d.]+\)""")
    names = {a or b for path in (ROOT / "quorra").rglob("*.py")
             for a, b in chore.findall(path.read_text())}
    assert {"reap_expired_leases", "fire_schedules", "dispatch_repair_sweep"} <= names
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Housekeeping\n", 1)[1].split("\n## ", 1)[0]
    assert sorted(n for n in names if f"| `{n}` |" not in section) == []
