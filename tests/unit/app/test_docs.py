"""docs/asterisk.md stays cited correctly: every cited section exists, every named file exists."""

from __future__ import annotations

import re

from tests.support.paths import REPO

DOC = REPO / "docs" / "asterisk.md"
CITATION = re.compile(r"docs/asterisk\.md#([a-z0-9-]+)")
CODE_PATH = re.compile(r"`((?:edgeqa|asterisk_conf|tests)/[^`\s]+)`")
SOURCES = ("edgeqa", "tests", "asterisk_conf", "docs", "README.md", "DEVELOPERS.md")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def _anchors() -> set[str]:
    return {_anchor(line[3:]) for line in DOC.read_text().splitlines() if line.startswith("## ")}


def test_anchor_follows_github() -> None:
    assert _anchor("The 422 race") == "the-422-race"
    assert _anchor("AMI sessions and resync") == "ami-sessions-and-resync"


def test_every_cited_section_exists() -> None:
    anchors = _anchors()
    cited = {}
    for source in SOURCES:
        root = REPO / source
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.suffix not in (".py", ".md", ".conf") or "__pycache__" in path.parts:
                continue
            for anchor in CITATION.findall(path.read_text()):
                cited.setdefault(anchor, path.relative_to(REPO).as_posix())
    assert cited, "nothing cites docs/asterisk.md"
    missing = {a: where for a, where in cited.items() if a not in anchors}
    assert missing == {}, f"cited sections not in docs/asterisk.md: {missing}"


def test_every_file_the_doc_names_exists() -> None:
    named = set(CODE_PATH.findall(DOC.read_text()))
    assert named
    assert sorted(p for p in named if not (REPO / p).exists()) == []
