"""A test set is checked on load: files against the manifest's checksums, items for well-formed gains."""

import json
import shutil

import pytest

from evalkit.data.synth import synthesize
from evalkit.data.testset import load_testset
from evalkit.errors import EvalkitInputError
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    out = tmp_path_factory.mktemp("ts")
    synthesize(out, songs=2, seed=5, seconds=2.0, sample_rate=8000, problems_per_song=2, progress=False)
    return out


@pytest.fixture
def ts(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / "ts")
    return tmp_path / "ts"


def _edit_item(ts, change):
    lines = (ts / "items.jsonl").read_text().splitlines()
    item = json.loads(lines[0])
    change(item)
    lines[0] = json.dumps(item)
    (ts / "items.jsonl").write_text("\n".join(lines) + "\n")


def test_a_changed_audio_file_is_named_with_exit_2(ts):
    wav = next((ts / "songs").rglob("*.wav"))
    data = bytearray(wav.read_bytes())
    data[-10] ^= 0xFF  # one sample changed
    wav.write_bytes(bytes(data))
    r = run_cli("data", "describe", ts)
    assert r.returncode == 2 and wav.name in r.stderr and "changed since the test set was built" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_missing_file_is_named(ts):
    wav = next((ts / "songs").rglob("*.wav"))
    wav.unlink()
    with pytest.raises(EvalkitInputError, match=f"{wav.name}: not found \\(listed in manifest.json\\)"):
        load_testset(ts)


@pytest.mark.parametrize("value, message", [(float("nan"), "must be finite"), (float("inf"), "must be finite"),
                                            (100.0, "outside ±40 dB")])
def test_bad_offsets_are_refused(ts, value, message):
    def bad(item):
        item["offsets_db"]["drums"] = value
    _edit_item(ts, bad)
    _rehash_items(ts)
    with pytest.raises(EvalkitInputError, match=f"items.jsonl:1: offsets_db.drums.*{message}"):
        load_testset(ts)


def test_unknown_stems_and_duplicate_ids_are_refused(ts):
    _edit_item(ts, lambda item: item["correction_db"].__setitem__("piano", 2.0))
    _rehash_items(ts)
    with pytest.raises(EvalkitInputError, match="correction_db.piano: song .* has no stem 'piano'"):
        load_testset(ts)


def test_duplicate_item_ids_are_refused(ts):
    lines = (ts / "items.jsonl").read_text().splitlines()
    (ts / "items.jsonl").write_text("\n".join(lines + [lines[0]]) + "\n")
    _rehash_items(ts)
    with pytest.raises(EvalkitInputError, match=r"items.jsonl:\d+: item id .* appears twice"):
        load_testset(ts)


def test_duplicate_song_ids_are_refused(ts):
    manifest = json.loads((ts / "manifest.json").read_text())
    manifest["songs"].append(manifest["songs"][0])
    (ts / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EvalkitInputError, match="song id .* appears twice"):
        load_testset(ts)


def test_an_edited_items_file_without_a_new_checksum_is_refused(ts):
    _edit_item(ts, lambda item: item["offsets_db"].__setitem__("drums", 1.0))
    with pytest.raises(EvalkitInputError, match="items.jsonl: changed since the test set was built"):
        load_testset(ts)


def _rehash_items(ts):
    """Pretend a careless tool rewrote the manifest too, so the item checks (not the checksum) must catch it."""
    import hashlib

    manifest = json.loads((ts / "manifest.json").read_text())
    manifest["checksums"]["items.jsonl"] = hashlib.sha256((ts / "items.jsonl").read_bytes()).hexdigest()
    (ts / "manifest.json").write_text(json.dumps(manifest))
