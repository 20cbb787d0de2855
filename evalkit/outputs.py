"""Outputs never destroy inputs.

Every command that writes a test set, a study, or a file passes its output path through here first.

- An output that is one of the command's own inputs, or one of the files evalkit keeps its data in (a run store,
  ``study.json``, a test set's manifest or items), is always refused.
- A folder that already holds a test set or a study, or any other files, is refused unless ``--force``. A file that
  evalkit did not write is refused unless ``--force``.
- Folders are built under a temporary name beside the target and renamed into place when complete. Files are written
  to a temporary name and renamed. A crash or a Ctrl-C leaves either the old output or the new one, never half of
  each, and a refused command has written nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from evalkit.errors import EvalkitInputError

# The files evalkit keeps its data in, and what each one marks a folder as.
DATA_FILES = {"store.sqlite": "run store", "store.sqlite-wal": "run store", "store.sqlite-shm": "run store",
              "study.json": "study", "release.json": "release", "manifest.json": "test set", "items.jsonl": "test set"}


def holds(folder: Path) -> str | None:
    """Which kind of evalkit data a folder holds (study, test set, run store), or None. A study keeps its answers in
    a store of its own, so study.json decides before store.sqlite does."""
    for name in ("study.json", "release.json", "manifest.json", "items.jsonl", "store.sqlite"):
        if (folder / name).exists():
            return DATA_FILES[name]
    return None


def jsonl_starts_with(path: Path, keys: set[str]) -> bool:
    """Whether a JSONL file's first line is an object holding ``keys``: how an export recognises a file it wrote."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            first = json.loads(f.readline() or "null")
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(first, dict) and keys <= set(first)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def refuse_inputs(out: Path, inputs: Iterable[Path | str | None], what: str) -> None:
    """An output that is an input, or lies inside an input folder, is refused whatever the flags."""
    for given in inputs:
        if given is None or "://" in str(given):
            continue
        src = Path(given)
        if _same(out, src) or (src.is_dir() and _inside(out, src) and out.name in DATA_FILES) or (out.is_dir() and _inside(src, out)):
            raise EvalkitInputError(f"--out {out}: that is (or holds) this command's input {src}; writing the {what} there would "
                                    "destroy it. Give another --out")


def guard_file(out: Path, what: str, *, force: bool, inputs: Iterable[Path | str | None] = (),
               ours: Callable[[Path], bool] | None = None) -> None:
    """Before writing file ``out``: never an input or an evalkit data file; an existing file only when evalkit wrote it
    (``ours``) or with ``--force``."""
    out = Path(out)
    refuse_inputs(out, inputs, what)
    if out.name in DATA_FILES:
        raise EvalkitInputError(f"--out {out}: {out.name} is where evalkit keeps a {DATA_FILES[out.name]}; give the {what} "
                                "another name")
    if out.is_dir():
        raise EvalkitInputError(f"--out {out}: a folder; give a file name for the {what}")
    if out.exists() and not force and not (ours and ours(out)):
        raise EvalkitInputError(f"--out {out}: the file exists and evalkit did not write it; give a new name, or --force to "
                                "replace it")


def guard_dir(out: Path, kind: str, *, force: bool, inputs: Iterable[Path | str | None] = ()) -> None:
    """Before writing a ``kind`` (test set, study) into folder ``out``."""
    out = Path(out)
    refuse_inputs(out, inputs, kind)
    if out.exists() and not out.is_dir():
        raise EvalkitInputError(f"--out {out}: a file, not a folder; give a folder for the {kind}")
    if not out.exists() or not any(out.iterdir()):
        return
    there = holds(out)
    if there == "run store":
        raise EvalkitInputError(f"--out {out}: holds a run store; a {kind} cannot replace it. Give another --out")
    if there is None:
        raise EvalkitInputError(f"--out {out}: not empty and not a {kind}; give a new or empty folder (nothing there is "
                                "replaced, even with --force)")
    if not force:
        raise EvalkitInputError(f"--out {out}: already holds a {there}, and runs or studies may point to it; give a new "
                                "folder, or --force to replace it")
    if there != kind:
        raise EvalkitInputError(f"--out {out}: holds a {there}, not a {kind}; --force only replaces a {kind}")


@contextlib.contextmanager
def staged_dir(out: Path, kind: str, *, force: bool, inputs: Iterable[Path | str | None] = ()) -> Iterator[Path]:
    """Build a folder's contents under a temporary name beside ``out``; swap it in only when the block completes."""
    out = Path(out)
    guard_dir(out, kind, force=force, inputs=inputs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise EvalkitInputError(f"--out {out}: cannot create the folder ({exc.strerror}); pick a writable place") from exc
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path in ``path``'s folder, renamed onto ``path`` when the block completes (removed if it fails)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


__all__ = ["DATA_FILES", "atomic_file", "guard_dir", "guard_file", "holds", "refuse_inputs", "staged_dir",
           "write_text_atomic"]
