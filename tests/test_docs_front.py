"""The documents a stranger reads first: a short README, the full settings table in
docs/settings.md, and no words from how the project was worked on."""

from __future__ import annotations

import re
from pathlib import Path

from watcher.settings_doc import settings_table

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", REPO / "bench/README.md", REPO / "deploy/README.md", *sorted((REPO / "docs").glob("*.md"))]
SESSION_WORDS = [r"\bissue \d+", r"\b(this|last|next|first|previous|that) stop\b", r"\bstop \d+\b", r"\bsession \d+\b"]


def test_readme_is_short() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


def test_docs_carry_no_issue_or_session_words() -> None:
    found = [f"{doc.relative_to(REPO)}: {m.group(0)!r}" for doc in DOCS if doc.exists()
             for pattern in SESSION_WORDS for m in re.finditer(pattern, doc.read_text(), re.IGNORECASE)]
    assert not found, found
    assert "../shared/bench" not in (REPO / "README.md").read_text()


def test_docs_settings_md_is_the_generated_table() -> None:
    assert settings_table() in (REPO / "docs/settings.md").read_text(), "run: python -m watcher.settings_doc docs/settings.md"


def test_readme_states_the_exit_codes_and_what_is_true_of_outputs() -> None:
    readme = (REPO / "README.md").read_text()
    assert "Two engines" not in readme
    for code in ("`0`", "`1`", "`2`", "`3`", "`4`"):
        assert code in readme
    assert "`solo`" in readme and "etag" in readme.split("## The manifest")[1]
