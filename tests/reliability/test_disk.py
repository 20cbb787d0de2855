"""A read-only or full results directory: a clear error (exit 2, one line), and the store is still
readable afterwards with nothing lost. Uses a real tmpfs (root can ignore permission bits)."""

import shutil
import subprocess

import pytest

from evalkit.store import Store
from tests.conftest import ROOT, run_cli


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root with mount rights)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _advice_ids(out) -> list[str]:
    store = Store(out)
    ids = sorted(a.id for a in store.advice())
    store.dispose()  # close the file: a remount needs no open writers
    return ids


def _generate(testset, out):
    return run_cli("generate", "--testset", testset, "--systems", ROOT / "experiments" / "systems.yaml", "--out", out, "--quiet")


def test_read_only_results_directory(small_testset, tmpfs):
    out = tmpfs / "run"
    assert _generate(small_testset, out).returncode == 0
    before = _advice_ids(out)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    try:
        proc = run_cli("judge", "--run", out, "--judge", "judges/reference.yaml", "--quiet")
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "read-only" in lines[0] and "Traceback" not in proc.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    assert _advice_ids(out) == before


def test_full_disk(small_testset, tmpfs):
    out = tmpfs / "run"
    assert _generate(small_testset, out).returncode == 0
    before = _advice_ids(out)
    filler = tmpfs / "filler"
    with open(filler, "wb", buffering=0) as f:  # fill the filesystem to the last block (unbuffered: close cannot fail)
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    proc = run_cli("judge", "--run", out, "--judge", "judges/reference.yaml", "--quiet")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "disk" in proc.stderr and "Traceback" not in proc.stderr
    filler.unlink()
    assert _advice_ids(out) == before
    assert run_cli("judge", "--run", out, "--judge", "judges/reference.yaml", "--quiet").returncode == 0
    shutil.rmtree(out)
