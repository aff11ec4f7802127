"""The README stays a short front page whose links all lead somewhere; the rest is the docs site
(`make docs`, whose --strict build checks the links between its own pages)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    head = "\n".join(lines[:25])
    assert "make run" in head
    assert "make test" in head


def test_every_relative_link_of_the_front_pages_exists() -> None:
    for page in ("README.md", "ARCHITECTURE.md"):
        targets = LINK.findall((ROOT / page).read_text())
        missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
        assert missing == [], page


def test_every_docs_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert [p for p in pages if f": {p}" not in nav] == []
