"""The documentation stays true: its links resolve and it names every package that exists.

A newcomer starts at README.md and docs/ARCHITECTURE.md; a dead link or a package the design
page does not mention sends them the wrong way, so both are checked here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
TOP_PACKAGES = ("clearing", "market", "adapters")
DOCUMENTED_FILES = sorted(
    {
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / name / "README.md" for name in TOP_PACKAGES),
        ROOT / "contracts" / "README.md",
    }
)
# A repository path in backticks, e.g. `market/store/models/` or `adapters/clock.py`.
REPO_PATH = re.compile(r"`((?:clearing|market|adapters|contracts|scripts|tests|docs)/[\w./-]*)`")


def _tokens(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _tokens(token.children)


def _relative_links(markdown_file: Path) -> list[str]:
    """Every link target in the file that points inside the repository."""
    parsed = MarkdownIt("commonmark").parse(markdown_file.read_text(encoding="utf-8"))
    targets = [str(t.attrGet("href")) for t in _tokens(parsed) if t.type == "link_open"]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]


def _subpackages(package: str) -> list[str]:
    """The package and every package below it, as repository paths (``market/store``)."""
    return sorted(
        init.parent.relative_to(ROOT).as_posix()
        for init in (ROOT / package).rglob("__init__.py")
        if "__pycache__" not in init.parts
    )


@pytest.mark.parametrize("markdown_file", DOCUMENTED_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(markdown_file: Path) -> None:
    assert markdown_file.is_file(), f"{markdown_file.relative_to(ROOT)} is missing"
    dead = [
        target
        for target in _relative_links(markdown_file)
        if not (markdown_file.parent / target.split("#", 1)[0]).exists()
    ]
    assert not dead, f"{markdown_file.relative_to(ROOT)}: dead links {dead}"


def test_architecture_names_every_package() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    packages = [path for top in TOP_PACKAGES for path in _subpackages(top)]
    missing = [path for path in packages if f"{path}/" not in text]
    assert not missing, f"docs/ARCHITECTURE.md does not name {missing}"


def test_architecture_names_nothing_that_does_not_exist() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    absent = [path for path in REPO_PATH.findall(text) if not (ROOT / path).exists()]
    assert not absent, f"docs/ARCHITECTURE.md names paths that do not exist: {absent}"


def test_readme_links_only_inside_the_repository() -> None:
    for target in _relative_links(ROOT / "README.md"):
        resolved = (ROOT / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"README.md links outside the repository: {target}"
