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


_FULL_URLS: dict[str, str] = {}  # password-free URL -> the URL as given, for this process only


def keep_without_password(url: str) -> str:
    """The URL to write into files (study.json): its password removed (``postgresql://u:pw@h/db`` ->
    ``postgresql://u@h/db``). This process remembers the full URL, so it can reopen the store; another
    process gets the password from PGPASSWORD or ~/.pgpass (libpq reads both) or from a full URL in the
    environment (EVALKIT_STUDY_STORE_URL for the study app)."""
    bare = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}@" if m["user"] else m["scheme"], url)
    if bare != url:
        _FULL_URLS[bare] = url
    return bare


def with_known_password(url: str) -> str:
    """The full URL this process was given for a password-free one (see keep_without_password), else as is."""
    return _FULL_URLS.get(url, url)


def redact(value: Any) -> Any:
    """A copy of ``value`` with URL credentials masked and secret-named keys' values replaced."""
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, dict):
        return {k: ("***" if str(k).lower() in SECRET_KEYS and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


__all__ = ["SECRET_KEYS", "keep_without_password", "mask_url", "redact", "with_known_password"]
