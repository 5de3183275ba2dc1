"""PowerPoint (.pptx) → text with python-pptx: per slide, in slide order, its title, the text of
its shapes (groups opened, tables a row per line) and its speaker notes.

Bounded like DOCX: the package's parts and unpacked size before python-pptx loads it (it loads
every part), the deadline between slides, the text length as it grows."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from docsum.domain.files import FileKind
from docsum.extract.archive import ZIP_DATA_ERRORS, check_package
from docsum.extract.bounds import check_archive_elements
from docsum.extract.limits import (
    Extracted,
    ExtractionDeadline,
    ExtractionFailed,
    ExtractionLimits,
    collect,
)

PRESENTATION_PART = "ppt/presentation.xml"


def is_pptx(names: set[str]) -> bool:
    return PRESENTATION_PART in names


def read_pptx(data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline) -> Extracted:
    """The slides' text; `pages` counts slides. The title: the core properties' title, else
    the first slide's."""
    check_package(data, limits, "PPTX")
    check_archive_elements(data, limits.max_markup_elements, "PPTX")
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    try:
        deck = Presentation(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, SyntaxError, *ZIP_DATA_ERRORS) as exc:
        # lxml's XMLSyntaxError is a SyntaxError; a part the package names but lacks: KeyError.
        raise ExtractionFailed(f"the PPTX is damaged: {exc}") from exc
    slides = list(deck.slides)
    first_title: list[str] = []
    found = False  # "Slide N" headings alone are no text

    def texts() -> Iterator[str]:
        nonlocal found
        for number, slide in enumerate(slides, 1):
            title_shape = slide.shapes.title
            title = _frame_text(title_shape) if title_shape is not None else ""
            if title and not first_title:
                first_title.append(title)
            lines = [f"Slide {number}" + (f": {title}" if title else "")]
            skip = title_shape.shape_id if title_shape is not None else None
            lines.extend(_shape_texts(slide.shapes, skip))
            if slide.has_notes_slide:  # `notes_slide` alone would create an empty one
                frame = slide.notes_slide.notes_text_frame
                notes = _clean(frame.text) if frame is not None else ""
                if notes:
                    lines.append(f"Notes: {notes}")
            found = found or len(lines) > 1 or bool(title)
            yield "\n".join(lines)

    text = collect(texts(), limits, deadline, f"PPTX of {len(slides)} slides")
    if not found:
        raise ExtractionFailed("the PPTX contains no text")
    title = deck.core_properties.title or (first_title[0] if first_title else None)
    return Extracted(text=text, kind=FileKind.PPTX, title=title, pages=len(slides))


def _shape_texts(shapes: Iterable[Any], skip: int | None) -> Iterator[str]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if shape.shape_id == skip:
            continue
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shape_texts(shape.shapes, skip)
        elif shape.has_text_frame:
            text = _frame_text(shape)
            if text:
                yield text
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                cells = [_clean(cell.text) for cell in row.cells]
                if any(cells):
                    yield " | ".join(cells)


def _frame_text(shape: Any) -> str:
    return _clean(shape.text_frame.text) if shape.has_text_frame else ""


def _clean(text: str) -> str:
    # python-pptx writes a soft line break as a vertical tab.
    return "\n".join(line.strip() for line in text.replace("\v", "\n").splitlines() if line.strip())
