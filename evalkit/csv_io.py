"""CSV in and out: a user's tables read with one-line errors, and exports that are safe to open in a spreadsheet.

A study export carries participants' free text. A comment that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is a formula to Excel, LibreOffice and Google Sheets (OWASP, "CSV Injection"). Such cells are
written with a leading apostrophe, which spreadsheets show as text. The file's first line is a ``#`` comment that
says so, and evalkit's readers skip it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from evalkit.errors import EvalkitInputError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BANNER = "# evalkit"


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, made inert; anything else unchanged."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def write_safe_csv(df: pd.DataFrame, path: Path, what: str) -> None:
    """UTF-8 CSV with a first line saying how it was written, text cells neutralised (numbers stay numbers)."""
    from evalkit import __version__

    text_cols = [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]
    safe = df.assign(**{c: df[c].map(neutralise) for c in text_cols})
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(f"{BANNER} {__version__} {what}, {stamp}; UTF-8; text cells that began with = + - @ tab or CR are prefixed "
                "with ' (spreadsheet formula guard)\n")
        safe.to_csv(f, index=False)


def has_banner(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().startswith(BANNER)
    except (OSError, UnicodeDecodeError):
        return False


def read_user_csv(path: Path, what: str) -> pd.DataFrame:
    """A CSV the user gave: UTF-8, a header row, evalkit's own banner line skipped; every failure one line naming it."""
    path = Path(path)
    if not path.exists():
        raise EvalkitInputError(f"{path}: {what} file not found")
    if path.is_dir():
        raise EvalkitInputError(f"{path}: a folder; give the {what} CSV file")
    if path.stat().st_size == 0:
        raise EvalkitInputError(f"{path}: an empty file; a {what} CSV starts with its header row")
    try:
        return pd.read_csv(path, encoding="utf-8", skiprows=1 if has_banner(path) else 0)
    except UnicodeDecodeError as exc:
        raise EvalkitInputError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from exc
    except Exception as exc:
        raise EvalkitInputError(f"{path}: unreadable CSV ({str(exc).splitlines()[0][:120]})") from exc


__all__ = ["neutralise", "read_user_csv", "write_safe_csv"]
