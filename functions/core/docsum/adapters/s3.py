"""S3: the texts and original files, deleted with every version, and presigned uploads."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from docsum.adapters.client_errors import error_is
from docsum.domain.errors import FileTooLarge, TextMissing
from docsum.ports.storage import PresignedPost


class S3TextStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put_text(self, key: str, text: str) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=text.encode("utf-8"),
            ContentType="text/plain; charset=utf-8",
        )

    def get_text(self, key: str) -> str:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_is(exc, "NoSuchKey", "404", "NotFound"):
                raise TextMissing(f"s3://{self._bucket}/{key} does not exist") from exc
            raise
        return str(body.decode("utf-8"))

    def delete(self, key: str) -> None:
        # The bucket is versioned: deleting only the current version would keep the text
        # recoverable, so every version (and delete marker) of the key goes.
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=key):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if entry["Key"] == key:
                    self._s3.delete_object(
                        Bucket=self._bucket, Key=key, VersionId=entry["VersionId"]
                    )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def delete_version(self, key: str, version: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key, VersionId=version)

    def get_bytes(self, key: str, max_bytes: int, version: str | None = None) -> bytes:
        try:
            response = self._s3.get_object(
                Bucket=self._bucket, Key=key, **({"VersionId": version} if version else {})
            )
        except ClientError as exc:
            if error_is(exc, "NoSuchKey", "404", "NotFound"):
                raise TextMissing(f"s3://{self._bucket}/{key} does not exist") from exc
            raise
        body = response["Body"]
        size = int(response.get("ContentLength", 0))
        if size > max_bytes:  # the POST policy should have refused it: never read it
            body.close()
            raise FileTooLarge(size, max_bytes)
        data: bytes = body.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise FileTooLarge(len(data), max_bytes)
        return data

    def presign_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=post["url"], fields=dict(post["fields"]))
