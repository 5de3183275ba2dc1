"""OCR of scans and photos, and the page-aware PDF reader, on pages made by real tools inside the
tests (fpdf2 writes a text page, PDFium renders it, Pillow saves the picture; Tesseract reads).
Every file goes the way the worker's do: kind detected from the bytes, then `extract`."""

from __future__ import annotations

import dataclasses
import io
import itertools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from docsum.domain.files import FileKind
from docsum.extract.dispatch import extract
from docsum.extract.kinds import detect_kind
from docsum.extract.limits import Extracted, ExtractionFailed, ExtractionLimits
from docsum.extract.ocr import NO_TEXT, OcrUnavailable
from docsum.extract.sandbox import extract_in_sandbox
from docsum.platform.settings import Settings
from docsum.worker.policy import WorkerPolicy

from infra.local.processes import REPO_ROOT
from tests import files

LIMITS = ExtractionLimits(max_chars=500_000)
GERMAN = "Der Ausschuss prüfte die Zahlen. Größere Rücklagen für Brücken."
FRENCH = "Le comité a approuvé le budget de l'année à venir."
SPANISH = "El niño está aquí; la señora revisó el presupuesto."


def read(data: bytes, **limits: Any) -> Extracted:
    """The file's kind detected from its bytes, then its text extracted within `limits`."""
    return extract(data, detect_kind(data), dataclasses.replace(LIMITS, **limits))


def test_png_photos_of_pages_are_read_with_their_accents() -> None:
    for text in (GERMAN, FRENCH, SPANISH):
        result = read(files.image_file([text]))
        assert result.kind is FileKind.PNG
        assert " ".join(result.text.split()) == text
        assert (result.method, result.pages, result.ocr_pages) == ("ocr", 1, 1)
        assert result.page_starts == (0,)
        assert result.confidence is not None
        assert 0.6 < result.confidence <= 1


@pytest.mark.parametrize("kind", [FileKind.JPEG, FileKind.WEBP])
def test_jpeg_and_webp_photos_are_read(kind: FileKind) -> None:
    result = read(files.image_file([files.PARAGRAPH], kind.value))
    assert result.kind is kind
    assert "natural satellite" in result.text


def test_multi_page_tiff_is_read_page_by_page_with_a_page_map() -> None:
    result = read(files.image_file(["First page: the Moon.", "", "Third page: the tides."], "tiff"))
    assert (result.kind, result.pages, result.ocr_pages) == (FileKind.TIFF, 3, 3)
    assert result.page_starts is not None
    first, blank, third = result.page_starts
    assert result.text[first:blank].strip() == "First page: the Moon."
    assert blank == third  # a page without text takes no room
    assert result.text[third:] == "Third page: the tides."


def test_mixed_pdf_keeps_its_text_layer_and_ocrs_only_the_scanned_page() -> None:
    result = read(files.scanned_pdf([("Born digital page about craters.", False), (GERMAN, True)]))
    assert result.text.startswith("Born digital page about craters.\n\n")
    assert (result.method, result.pages, result.ocr_pages) == ("mixed", 2, 1)
    assert result.page_starts is not None
    assert " ".join(result.text[result.page_starts[1] :].split()) == GERMAN
    assert result.confidence is not None


def test_a_fully_scanned_pdf_is_ocr() -> None:
    result = read(files.scanned_pdf([(files.PARAGRAPH, True)]))
    assert (result.method, result.ocr_pages) == ("ocr", 1)
    assert "natural satellite" in result.text


def test_pdf_text_layer_page_map_and_title() -> None:
    result = read(files.pdf(["Page one.", "Page two.", "Page three."], title="Lunar"))
    assert result.title == "Lunar"
    assert (result.method, result.ocr_pages, result.confidence) == ("text", 0, None)
    assert result.page_starts is not None
    starts = [*result.page_starts, len(result.text)]
    pages = [result.text[a:b].strip() for a, b in itertools.pairwise(starts)]
    assert pages == ["Page one.", "Page two.", "Page three."]


def test_an_image_without_text_fails_saying_so() -> None:
    with pytest.raises(ExtractionFailed, match=NO_TEXT):
        read(files.png())


def test_a_scanned_pdf_without_text_fails_saying_so() -> None:
    with pytest.raises(ExtractionFailed, match=NO_TEXT):
        read(files.pdf(["ignored"], image_only=True))


def test_a_truncated_image_fails_as_damaged() -> None:
    data = files.image_file([files.PARAGRAPH])
    with pytest.raises(ExtractionFailed, match="PNG image is damaged or truncated"):
        read(data[: len(data) // 2])


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    # 30000 x 30000 = 900 MP: refused before a pixel is inflated (only the first rows exist)
    with pytest.raises(ExtractionFailed, match="MAX_IMAGE_PIXELS"):
        read(files.png_header(30_000, 30_000))
    # Under Pillow's own guard (2x the limit) the explicit check still names the limit.
    with pytest.raises(ExtractionFailed, match=r"page 1 is 3000x3000 pixels.*MAX_IMAGE_PIXELS"):
        read(files.png_header(3000, 3000), max_image_pixels=5_000_000)


def test_a_huge_pdf_page_is_rendered_within_the_pixel_limit() -> None:
    data = files.scanned_pdf([(files.PARAGRAPH, True)])
    result = read(data, max_image_pixels=2_500_000)  # ~130 dpi instead of 200
    assert "satellite" in result.text


def test_pages_to_ocr_over_the_limit_fail_naming_it() -> None:
    tiff = files.image_file(["one", "two", "three"], "tiff")
    with pytest.raises(ExtractionFailed, match=r"3 pages to OCR; at most 2.*MAX_OCR_PAGES"):
        read(tiff, max_ocr_pages=2)
    scans = files.scanned_pdf([("one", True), ("two", True), ("three", False)])
    with pytest.raises(ExtractionFailed, match=r"2 pages to OCR; at most 1.*MAX_OCR_PAGES"):
        read(scans, max_ocr_pages=1)


def test_time_per_page_and_in_total_are_bounded() -> None:
    data = files.image_file([files.PARAGRAPH])
    with pytest.raises(ExtractionFailed, match=r"page 1 took longer.*OCR_PAGE_SECONDS"):
        read(data, ocr_page_seconds=0.01)
    with pytest.raises(ExtractionFailed, match="OCR_TIMEOUT_SECONDS"):
        read(data, ocr_timeout_seconds=0)


def test_a_password_protected_pdf_fails_saying_so() -> None:
    with pytest.raises(ExtractionFailed, match="password-protected"):
        read(files.pdf(["Secret."], user_password="s3cret"))


def test_a_missing_engine_or_language_fails_saying_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = files.image_file(["Words"])
    with pytest.raises(OcrUnavailable, match=r"cannot load the languages xyz \(OCR_LANGUAGES\)"):
        read(data, ocr_languages="xyz")
    monkeypatch.setenv("TESSDATA_PREFIX", "/nonexistent/")
    with pytest.raises(OcrUnavailable, match="from /nonexistent/"):
        read(data)
    monkeypatch.setitem(sys.modules, "tesserocr", None)  # not installed: import fails
    with pytest.raises(OcrUnavailable, match="tesserocr is not installed"):
        read(data)


def test_a_sideways_phone_photo_is_turned_upright_from_its_exif_tag() -> None:
    from PIL import Image

    upright = files.page_image(files.PARAGRAPH)
    sideways = upright.rotate(90, expand=True)  # stored as the camera held it
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    out = io.BytesIO()
    sideways.save(out, "JPEG", exif=exif.tobytes())
    assert "natural satellite" in read(out.getvalue()).text


def test_every_client_offers_every_format_the_api_reads() -> None:
    """The CLI's suffix list and the web page's file picker keep up with the formats: photos
    and scans included."""
    import re
    from pathlib import Path

    from docsum.domain.files import MEDIA_TYPES
    from docsum_cli.sources import MEDIA_TYPES as CLI_TYPES

    assert set(CLI_TYPES.values()) == set(MEDIA_TYPES.values())
    page = (Path(__file__).parents[2] / "functions/ingest/docsum_api/web/index.html").read_text()
    accept = re.search(r'accept="([^"]+)"', page)
    assert accept is not None
    assert set(accept.group(1).split(",")) == set(CLI_TYPES)


def test_ocr_runs_in_the_extraction_sandbox_within_the_default_limits(settings: Settings) -> None:
    """The worker extracts in a child process the OS bounds: OCR's models and pages fit the
    default memory limit, its time the CPU and wall-clock limits, and the page map and the
    extraction report come back whole."""
    policy = WorkerPolicy.of(settings)
    limits, sandbox = policy.extraction_limits(), policy.sandbox_limits()
    assert sandbox.cpu_seconds >= settings.extraction_timeout_seconds + settings.ocr_timeout_seconds
    data = files.scanned_pdf([(GERMAN, True), ("A typed page about craters and tides.", False)])
    result = extract_in_sandbox(data, limits, sandbox, expected=FileKind.PDF)
    assert result.extracted == extract(data, FileKind.PDF, limits)
    assert (result.extracted.method, result.extracted.page_starts) == (
        "mixed",
        (0, len(GERMAN) + 2),
    )
    assert result.usage.peak_bytes - result.usage.baseline_bytes < sandbox.memory_bytes


def make_variable(makefile: Path, name: str, cwd: Path) -> list[str]:
    """A variable as make itself expands it in `makefile`, run from `cwd`."""
    shown = subprocess.run(
        ["make", "-s", "-f", str(makefile), "--eval", f"show-it: ; @echo $({name})", "show-it"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return shown.stdout.split()


def test_the_ocr_languages_are_one_list_installed_shipped_and_loaded(tmp_path: Path) -> None:
    """infra/ocr-data/languages.mk lists the languages once: the top Makefile installs their
    Debian packages (here, in CI, on the build machine), the layer's Makefile copies their data
    into the OcrDataLayer (sam build runs it from a copy of the folder), and OCR_LANGUAGES'
    default loads exactly those (one not installed fails every OCR; one installed but never
    loaded is layer weight for nothing), accented languages before English."""
    layer = REPO_ROOT / "infra" / "ocr-data"
    (listed,) = (
        line.split(":=")[1].split()
        for line in (layer / "languages.mk").read_text().splitlines()
        if line.startswith("OCR_LANGUAGE_FILES :=")
    )
    packages = make_variable(REPO_ROOT / "Makefile", "TESSERACT_PACKAGES", REPO_ROOT)
    assert packages == [f"tesseract-ocr-{code}" for code in listed]
    shutil.copytree(layer, tmp_path / "build")
    copied = make_variable(layer / "Makefile", "OCR_LANGUAGE_FILES", tmp_path / "build")
    assert copied == listed
    default = Settings.model_fields["ocr_languages"].default
    assert sorted(default.split("+")) == sorted(listed)
    assert ExtractionLimits(max_chars=1).ocr_languages == default
    assert default.split("+")[-1] == "eng"
