"""``LandingBucketDataset``: the landing bucket (a local folder or an object-store bucket), made sure of and looked at."""

from __future__ import annotations

import logging
from typing import Any

import fsspec
from kedro.io import AbstractDataset, DatasetError

logger = logging.getLogger(__name__)


class LandingBucketDataset(AbstractDataset[dict, dict]):
    """The landing bucket (a local folder or an ``s3://`` bucket): save and load mean the same thing.

    ``save({"create_if_missing": bool})`` makes sure the bucket exists: creates it when missing and
    allowed, fails naming it otherwise. ``load`` -> ``{"location", "bucket", "exists"}``.
    """

    def __init__(
        self,
        *,
        path: str,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = str(path).rstrip("/")
        protocol, stripped = fsspec.core.split_protocol(self._path)
        self._protocol = protocol or "file"
        self._fs = fsspec.filesystem(self._protocol, **(credentials or {}), **(fs_args or {}))
        # An object store's "bucket" is its first path element; locally it is the folder itself.
        self._bucket = stripped.split("/")[0] if self._protocol in ("s3", "s3a", "gs", "gcs", "abfs") else stripped
        self.metadata = metadata

    @property
    def _bucket_uri(self) -> str:
        return f"{self._protocol}://{self._bucket}" if self._protocol != "file" else self._bucket

    def _exists(self) -> bool:
        try:
            return bool(self._fs.exists(self._bucket))
        except PermissionError:
            return True  # listing refused but the bucket answered

    def load(self) -> dict:
        return {"location": self._path, "bucket": self._bucket_uri, "exists": self._exists()}

    def save(self, data: dict) -> None:
        if self._exists():
            return
        if not data["create_if_missing"]:
            raise DatasetError(
                f"landing bucket '{self._bucket_uri}' does not exist; create it or set "
                "payments.landing.create_bucket_if_missing: true"
            )
        if self._protocol == "file":
            self._fs.makedirs(self._bucket, exist_ok=True)
        else:
            self._fs.mkdir(self._bucket)
        if not self._exists():
            raise DatasetError(f"landing bucket '{self._bucket_uri}' could not be created")
        logger.info("created landing bucket '%s'", self._bucket_uri)

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}
