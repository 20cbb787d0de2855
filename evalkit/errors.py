"""Errors that end a command with exit code 2 and one line that names the input and the fix."""

from __future__ import annotations


class EvalkitInputError(Exception):
    """Bad input from the user: a file, a field, a flag. The message says which and how to fix it."""


class AudioError(EvalkitInputError):
    """An audio file that cannot be used (unreadable, empty, NaN/Inf, wrong rate)."""


class ConfigError(EvalkitInputError):
    """A YAML/JSON config that does not validate."""


class StoreError(EvalkitInputError):
    """The run store cannot be opened or written (read-only directory, disk full, bad URL)."""


class MissingDependencyError(EvalkitInputError):
    """An optional dependency is not installed; the message carries the exact pip line."""


def require(module: str, extra: str, pip_name: str | None = None):
    """Import an optional dependency or say exactly which install fixes it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised where the extra is absent
        raise MissingDependencyError(
            f"{module} is not installed: run `pip install 'evalkit[{extra}]'`"
            + (f" (or `pip install {pip_name}`)" if pip_name else "")
        ) from exc
