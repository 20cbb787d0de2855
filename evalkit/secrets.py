"""Secrets never kept: credentials inside URLs are masked, and values of secret-named keys replaced, in
everything evalkit writes (run metadata, the call log, messages). Keys come from the environment only."""

from __future__ import annotations

import re
from typing import Any

SECRET_KEYS = frozenset({"api_key", "token", "password", "secret"})
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/:@\s]*):(?P<password>[^/@\s]+)@")


def mask_url(text: str) -> str:
    """``postgresql://evalkit:pw@host/db`` -> ``postgresql://evalkit:***@host/db`` (any scheme, anywhere in text)."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def redact(value: Any) -> Any:
    """A copy of ``value`` with URL credentials masked and secret-named keys' values replaced."""
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, dict):
        return {k: ("***" if str(k).lower() in SECRET_KEYS and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


__all__ = ["SECRET_KEYS", "mask_url", "redact"]
