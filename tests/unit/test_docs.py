"""What `mkdocs build --strict` cannot see: the README lives outside `docs/`, so its links into
the site are checked here, the markers the bench and quality tools write their tables between
must stay on their pages, and the README's layout names the template's functions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import markdown
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# [text](target) and ![alt](target), outside code blocks and spans.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (no links live there)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(page: Path) -> set[str]:
    """The heading ids MkDocs gives a page (Python-Markdown's toc, as mkdocs.yml configures)."""
    md = markdown.Markdown(extensions=["toc", "tables", "attr_list"])
    md.convert(page.read_text())

    def walk(tokens: list[dict[str, Any]]) -> set[str]:
        return {t["id"] for t in tokens} | {i for t in tokens for i in walk(t["children"])}

    return walk(md.toc_tokens)


def local_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(prose(path.read_text())) if "://" not in t]


def test_the_readme_links_into_the_docs_and_every_link_resolves() -> None:
    links = local_links(README)
    assert any(link.startswith("docs/") and link.endswith(".md") for link in links)
    broken = []
    for link in links:
        target, _, anchor = link.partition("#")
        path = (README.parent / target) if target else README
        if not path.exists() or (anchor and anchor not in anchors(path)):
            broken.append(link)
    assert broken == []


def test_the_readme_links_every_page_of_the_site() -> None:
    linked = {(README.parent / link.partition("#")[0]).resolve() for link in local_links(README)}
    pages = {page.resolve() for page in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()


@pytest.mark.parametrize(
    ("page", "name"), [("docs/benchmarks.md", "BENCH"), ("docs/quality.md", "QUALITY")]
)
def test_the_generated_tables_have_their_markers(page: str, name: str) -> None:
    text = (ROOT / page).read_text()
    assert text.count(f"<!-- {name} -->") == 1
    assert text.count(f"<!-- /{name} -->") == 1
    assert text.index(f"<!-- {name} -->") < text.index(f"<!-- /{name} -->")


def test_the_quick_start_commands_are_make_targets() -> None:
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    makefile = (ROOT / "Makefile").read_text()
    for command in ("make up", "make test"):
        assert command in quick_start
        assert re.search(rf"^{command.split()[1]}:", makefile, re.MULTILINE)


def test_the_readme_layout_names_every_function_of_the_template() -> None:
    from infra.template import load_template

    template = load_template()
    folders = {
        template.function(logical_id).code_uri.name
        for logical_id in template.logical_ids("AWS::Serverless::Function")
    }
    (line,) = [line for line in README.read_text().splitlines() if line.startswith("functions/ ")]
    named = re.search(r"\(([^)]*)\)", line)
    assert named is not None, line
    assert set(named.group(1).split(", ")) == folders
