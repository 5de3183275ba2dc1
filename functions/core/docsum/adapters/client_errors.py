"""What a boto3 error was: its error code, as the services name it."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_is(exc: ClientError, *codes: str) -> bool:
    return exc.response.get("Error", {}).get("Code") in codes
