"""OCR of scans and photos, and the page-aware PDF reader, on pages made by real tools inside the
tests (fpdf2 writes a text page, PDFium renders it, Pillow saves the picture; Tesseract reads)."""

from __future__ import annotations

import io

import pytest
from docsum.extraction import ExtractionFailed
from docsum.ocr import NO_TEXT, OcrLimits, OcrUnavailable
from docsum.scans import image_pages, pdf_pages

from tests import files

LIMITS = OcrLimits()
GERMAN = "Der Ausschuss prüfte die Zahlen. Größere Rücklagen für Brücken."
FRENCH = "Le comité a approuvé le budget de l'année à venir."
SPANISH = "El niño está aquí; la señora revisó el presupuesto."


def read_pdf(data: bytes, limits: OcrLimits = LIMITS, max_pages: int = 100) -> tuple:  # type: ignore[type-arg]
    return pdf_pages(data, max_pages=max_pages, limits=limits, check_time=lambda _: None)


def test_png_photos_of_pages_are_read_with_their_accents() -> None:
    for text in (GERMAN, FRENCH, SPANISH):
        paged = image_pages(files.image_file([text]), "png", LIMITS)
        assert " ".join(paged.text.split()) == text
        assert (paged.method, paged.ocr_pages, paged.page_starts) == ("ocr", 1, (0,))
        assert paged.confidence is not None
        assert 0.6 < paged.confidence <= 1


@pytest.mark.parametrize("kind", ["jpeg", "webp"])
def test_jpeg_and_webp_photos_are_read(kind: str) -> None:
    paged = image_pages(files.image_file([files.PARAGRAPH], kind), kind, LIMITS)
    assert "natural satellite" in paged.text


def test_multi_page_tiff_is_read_page_by_page_with_a_page_map() -> None:
    data = files.image_file(["First page: the Moon.", "", "Third page: the tides."], "tiff")
    paged = image_pages(data, "tiff", LIMITS)
    assert paged.ocr_pages == 3
    first, blank, third = paged.page_starts
    assert paged.text[first:blank].strip() == "First page: the Moon."
    assert blank == third  # a page without text takes no room
    assert paged.text[third:] == "Third page: the tides."


def test_mixed_pdf_keeps_its_text_layer_and_ocrs_only_the_scanned_page() -> None:
    data = files.scanned_pdf([("Born digital page about craters.", False), (GERMAN, True)])
    paged, _ = read_pdf(data)
    assert paged.text.startswith("Born digital page about craters.\n\n")
    assert (paged.method, paged.ocr_pages) == ("mixed", 1)
    scanned = paged.text[paged.page_starts[1] :]
    assert "Größere Rücklagen" in scanned
    assert paged.confidence is not None


def test_a_fully_scanned_pdf_is_ocr() -> None:
    paged, _ = read_pdf(files.scanned_pdf([(files.PARAGRAPH, True)]))
    assert paged.method == "ocr"
    assert "natural satellite" in paged.text


def test_pdf_text_layer_page_map_and_title() -> None:
    paged, title = read_pdf(files.pdf(["Page one.", "Page two.", "Page three."], title="Lunar"))
    assert title == "Lunar"
    assert (paged.method, paged.ocr_pages, paged.confidence) == ("text", 0, None)
    assert [paged.text[start:].split("\n")[0] for start in paged.page_starts] == [
        "Page one.",
        "Page two.",
        "Page three.",
    ]


def test_an_image_without_text_fails_saying_so() -> None:
    with pytest.raises(ExtractionFailed, match=NO_TEXT):
        image_pages(files.png(), "png", LIMITS)


def test_a_scanned_pdf_without_text_fails_saying_so() -> None:
    with pytest.raises(ExtractionFailed, match=NO_TEXT):
        read_pdf(files.pdf(["ignored"], image_only=True))


def test_a_truncated_image_fails_as_damaged() -> None:
    data = files.image_file([files.PARAGRAPH])
    with pytest.raises(ExtractionFailed, match="PNG image is damaged or truncated"):
        image_pages(data[: len(data) // 2], "png", LIMITS)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    # 30000 x 30000 = 900 MP: refused before a pixel is inflated (only the first rows exist)
    with pytest.raises(ExtractionFailed, match="MAX_IMAGE_PIXELS"):
        image_pages(files.png_header(30_000, 30_000), "png", LIMITS)
    # Under Pillow's own guard (2x the limit) the explicit check still names the limit.
    with pytest.raises(ExtractionFailed, match=r"page 1 is 3000x3000 pixels.*MAX_IMAGE_PIXELS"):
        image_pages(files.png_header(3000, 3000), "png", OcrLimits(max_pixels=5_000_000))


def test_a_huge_pdf_page_is_rendered_within_the_pixel_limit() -> None:
    data = files.scanned_pdf([(files.PARAGRAPH, True)])
    paged, _ = read_pdf(data, OcrLimits(max_pixels=2_500_000))  # ~130 dpi instead of 200
    assert "satellite" in paged.text


def test_pages_to_ocr_over_the_limit_fail_naming_it() -> None:
    data = files.image_file(["one", "two", "three"], "tiff")
    with pytest.raises(ExtractionFailed, match=r"3 pages to OCR; at most 2.*MAX_OCR_PAGES"):
        image_pages(data, "tiff", OcrLimits(max_pages=2))
    scans = files.scanned_pdf([("one", True), ("two", True), ("three", False)])
    with pytest.raises(ExtractionFailed, match=r"2 pages to OCR; at most 1.*MAX_OCR_PAGES"):
        read_pdf(scans, OcrLimits(max_pages=1))


def test_time_per_page_and_in_total_are_bounded() -> None:
    data = files.image_file([files.PARAGRAPH])
    with pytest.raises(ExtractionFailed, match=r"page 1 took longer.*OCR_PAGE_SECONDS"):
        image_pages(data, "png", OcrLimits(page_seconds=0.01))
    with pytest.raises(ExtractionFailed, match="OCR_TIMEOUT_SECONDS"):
        image_pages(data, "png", OcrLimits(total_seconds=0))


def test_a_password_protected_pdf_fails_saying_so() -> None:
    with pytest.raises(ExtractionFailed, match="password-protected"):
        read_pdf(files.pdf(["Secret."], user_password="s3cret"))


def test_a_truncated_pdf_fails_as_damaged() -> None:
    data = files.pdf([files.PARAGRAPH] * 3)
    with pytest.raises(ExtractionFailed, match="damaged or truncated"):
        read_pdf(data[: len(data) // 3])


def test_a_missing_engine_or_language_is_the_deployment_fault_not_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = files.image_file(["Words"])
    with pytest.raises(OcrUnavailable, match="xyz"):
        image_pages(data, "png", OcrLimits(languages="xyz"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(OcrUnavailable, match="not installed"):
        image_pages(data, "png", LIMITS)


def test_a_sideways_phone_photo_is_turned_upright_from_its_exif_tag() -> None:
    from PIL import Image

    upright = files.page_image(files.PARAGRAPH)
    sideways = upright.rotate(90, expand=True)  # stored as the camera held it
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    out = io.BytesIO()
    sideways.save(out, "JPEG", exif=exif.tobytes())
    assert "natural satellite" in image_pages(out.getvalue(), "jpeg", LIMITS).text
