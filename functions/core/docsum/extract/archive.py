"""ZIP-based formats (DOCX, EPUB, PPTX, OpenDocument): the package's directory is checked
before anything is inflated, and members are read with a cap.

The sizes a ZIP's directory declares bound what `zipfile` inflates (it stops at the declared
size and checks the CRC), so their sum refuses a bomb up front; the number of parts bounds the
directory a reader walks and the parts a library such as python-pptx loads."""

from __future__ import annotations

import io
import zipfile
import zlib

from docsum.extract.limits import ExtractionFailed, ExtractionLimits, reason_of

# A 300-slide deck with pictures has ~2,000 parts; a directory of 100,000 empty members is a
# few MB of ZIP that costs every reader time and memory before it finds any text.
MAX_PARTS = 10_000
# What reading a member's data raises when it is damaged: a bad CRC (BadZipFile), a broken
# deflate stream (zlib.error), a stream cut short (EOFError), a bad local header (OSError).
ZIP_DATA_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


def open_package(data: bytes, limits: ExtractionLimits, what: str) -> zipfile.ZipFile:
    """The archive, once its parts and declared unpacked size are within the limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ExtractionFailed(f"the {what} is damaged or truncated: {reason_of(exc)}") from exc
    infos = archive.infolist()
    if len(infos) > MAX_PARTS:
        archive.close()
        raise ExtractionFailed(
            f"the {what} has {len(infos)} parts; at most {MAX_PARTS} are accepted"
        )
    unpacked = sum(info.file_size for info in infos)
    if unpacked > limits.max_unpacked_bytes:
        archive.close()
        raise ExtractionFailed(
            f"the {what} unpacks to {unpacked} bytes; "
            f"at most {limits.max_unpacked_bytes} are accepted"
        )
    return archive


def check_package(data: bytes, limits: ExtractionLimits, what: str) -> None:
    open_package(data, limits, what).close()


def member_names(data: bytes) -> set[str] | None:
    """The member names of a ZIP, or None when it cannot be read (truncated)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None


def read_member(archive: zipfile.ZipFile, name: str, what: str) -> bytes:
    try:
        return archive.read(name)
    except KeyError as exc:
        raise ExtractionFailed(f"the {what} has no {name}") from exc
    except (*ZIP_DATA_ERRORS, ValueError) as exc:
        raise ExtractionFailed(f"the {what} is damaged: {name}: {reason_of(exc)}") from exc
