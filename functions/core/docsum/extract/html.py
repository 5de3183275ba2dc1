"""HTML, Markdown (rendered, then read as HTML) and plain text → text."""

from __future__ import annotations

from docsum.domain.files import FileKind
from docsum.extract.bounds import check_html, check_markdown
from docsum.extract.decode import decode_text
from docsum.extract.limits import Extracted, ExtractionDeadline, ExtractionLimits

# Never content: scripts, styles, navigation and page furniture.
HTML_CLUTTER = (
    "script, style, noscript, template, svg, canvas, iframe, object, nav, header, footer, "
    "aside, form, button, select, [hidden], [aria-hidden=true], [role=navigation]"
)
# Inline elements are unwrapped (their text merges with its neighbours); every text node left
# is then a block of its own, joined with a paragraph mark. All of it runs inside lexbor: edits
# node by node from Python cost ~20x the parse itself.
INLINE_TAGS = [
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd",
    "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
    "del", "ins", "label", "wbr",
]  # fmt: skip
_BLOCK_MARK = "\x00"  # never in decoded text that reaches here (NUL means binary)


def html_text(markup: str, limits: ExtractionLimits, what: str) -> tuple[str, str | None]:
    """(main text, <title>) of an HTML page: clutter removed, <main>/<article> preferred,
    one paragraph per block of text, a table row per line. Markup with too many elements or
    nested too deep is refused before lexbor builds its tree (naming the limit)."""
    from selectolax.lexbor import LexborHTMLParser

    check_html(markup, limits.max_markup_elements, limits.max_html_depth, what)
    tree = LexborHTMLParser(markup)
    # Each query walks the tree: look for the title in <head> only, for rows only if any.
    title_node = (tree.head or tree.root).css_first("title") if tree.root else None
    title = title_node.text(strip=True) if title_node is not None else None
    for node in tree.css(HTML_CLUTTER):
        node.decompose()
    root = tree.css_first("main") or tree.css_first("article") or tree.body or tree.root
    if root is None:
        return "", title
    root.unwrap_tags(INLINE_TAGS)
    root.merge_text_nodes()
    rows = root.css("tr") if "<tr" in markup or "<TR" in markup else []
    for row in rows:  # cells of a row stay on one line
        row.replace_with(" ".join(row.text(deep=True, separator=" ").split()))
    if rows:
        root.merge_text_nodes()
    text = root.text(deep=True, separator=_BLOCK_MARK)
    # Whitespace collapsed, then the marks made paragraph breaks: all of it C-level string
    # work (a regex substitution per mark was 3x slower than the parse).
    blocks = filter(None, map(str.strip, " ".join(text.split()).split(_BLOCK_MARK)))
    return "\n\n".join(blocks), title or None


def read_html(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    text, title = html_text(decode_text(data), limits, "HTML")
    deadline.check("HTML")
    return Extracted(text=text, kind=FileKind.HTML, title=title)


def read_markdown(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    from markdown_it import MarkdownIt

    # Rendered, then read back as text: links keep their words, tables their cells, code its
    # code, and no markup characters are left for the model to read.
    source = decode_text(data)
    check_markdown(source, limits.max_markdown_emphasis_marks)
    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(source)
    deadline.check("Markdown")
    text, _ = html_text(rendered, limits, "Markdown")
    return Extracted(text=text, kind=FileKind.MARKDOWN)


def read_text(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    return Extracted(text=decode_text(data), kind=FileKind.TEXT)
