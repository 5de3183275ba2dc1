"""Images → text by OCR: PNG, JPEG, WebP and every page of a multi-page TIFF, each checked against
the pixel limit from its header before a pixel is decoded."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from docsum.domain.files import FileKind
from docsum.extract.limits import Extracted, ExtractionDeadline, ExtractionFailed, ExtractionLimits
from docsum.extract.ocr import Ocr, check_page_count, check_pixels, paged

if TYPE_CHECKING:
    from PIL import Image

_PILLOW_FORMATS = {
    FileKind.PNG: "PNG",
    FileKind.JPEG: "JPEG",
    FileKind.TIFF: "TIFF",
    FileKind.WEBP: "WEBP",
}


def read_image(
    data: bytes, limits: ExtractionLimits, deadline: ExtractionDeadline, kind: FileKind
) -> Extracted:
    pages = []
    with Ocr(limits) as ocr:
        for number, image in _frames(data, kind, limits):
            deadline.check(f"{kind.value.upper()} image")
            pages.append(ocr.read(image, number))
    return paged(pages, kind)


def _frames(
    data: bytes, kind: FileKind, limits: ExtractionLimits
) -> Iterator[tuple[int, Image.Image]]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    # Pillow's own guard refuses an image over twice this; the explicit check below refuses
    # anything over it, naming the setting, from the size in the header.
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
    what = kind.value.upper()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[kind]])
    except Image.DecompressionBombError as exc:
        raise ExtractionFailed(
            f"the image has more than {limits.max_image_pixels} pixels per page (MAX_IMAGE_PIXELS)"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ExtractionFailed(f"the {what} image is damaged or truncated: {exc}") from exc
    # A phone's JPEG may carry a second, preview frame (MPO): only the photo is the document.
    frames = 1 if kind is FileKind.JPEG else getattr(image, "n_frames", 1)
    check_page_count(frames, limits, "the image has")
    for number in range(1, frames + 1):
        try:
            image.seek(number - 1)
            check_pixels(*image.size, number, limits)
            # Phones store a photo sideways plus an orientation tag: turn it upright.
            upright = ImageOps.exif_transpose(image)
            upright.load()
        except ExtractionFailed:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ExtractionFailed(f"the {what} image is damaged or truncated: {exc}") from exc
        yield number, upright
