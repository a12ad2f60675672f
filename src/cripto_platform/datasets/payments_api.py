"""``PaymentsApiDataset``: where the payments API is (from credentials); read-only, nothing is fetched."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError


class PaymentsApiDataset(AbstractDataset[None, dict]):
    """Read-only: where the payments API is, from credentials (``{base_url: ...}``); nothing is fetched.

    Lets the base URL live in credentials (``CRIPTO_PAYMENTS_API_URL`` or ``conf/local``) while the
    fetch nodes stay free of configuration lookups; ``payments.source.base_url`` takes precedence.
    """

    def __init__(self, *, credentials: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._base_url = (credentials or {}).get("base_url") or None
        self.metadata = metadata

    def load(self) -> dict:
        return {"base_url": self._base_url}

    def save(self, data: None) -> None:
        raise DatasetError("payments_api is read-only: it only says where the payments API is")

    def _describe(self) -> dict[str, Any]:
        return {"base_url": self._base_url}
