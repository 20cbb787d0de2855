"""`evalkit release TESTSET --out REL`: a frozen, checksummed benchmark release of a test set's test split.

What advisors see lies under ``inputs/``: per item the problem mix and the problem stems (WAV, at the disturbed gains),
the reference tracks shown under stems+reference, and ``prompts.jsonl``, the chat each condition shows (the feature
tables exactly as evalkit's own advisors get them). What scoring needs lies apart: ``truth.jsonl`` (the correction per
stem) and ``testset/`` (an evalkit test set of the test songs and the reference songs, which `evalkit score` loads).
Like any public benchmark's labels, the truth ships with the release; advisors read ``inputs/`` only.

``manifest.json`` lists every file's SHA-256; ``release.json`` carries ``release_id``, the hash of that list, so the same
test set released twice has the same id, and a changed file is found by `evalkit score`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.data.synth import sha256_file
from evalkit.data.testset import TestSet, load_testset
from evalkit.errors import EvalkitInputError
from evalkit.records import Condition, content_hash

FORMAT = "evalkit-release-1"
DEFAULT_CONDITIONS = (Condition.mix, Condition.stems, Condition.stems_reference)
UNHASHED = ("manifest.json", "release.json")  # the manifest lists the rest; release.json names the manifest's hash


def submission_schema(conditions: list[str], item_ids: list[str]) -> dict[str, Any]:
    """JSON Schema of one submission line."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "evalkit benchmark submission line (JSONL: one object per line, one line per item and condition)",
        "type": "object",
        "required": ["item_id", "condition", "advice"],
        "additionalProperties": False,
        "properties": {
            "item_id": {"type": "string", "enum": item_ids},
            "condition": {"type": "string", "enum": conditions},
            "advice": {"type": "string", "maxLength": 20000, "description": "the advice text, as the advisor wrote it"},
            "model": {"type": "object", "description": "optional metadata: name, version, decoding, anything that identifies "
                                                      "the system"},
        },
    }


def _prompts(ts: TestSet, conditions: list[Condition], layout: str, seed: int) -> list[dict]:
    from evalkit.systems.base import AdviceSystem, SystemConfig
    from evalkit.systems.llm import advisor_messages

    has_ref = any(c.has_reference for c in conditions)
    cfg = SystemConfig(name="release", kind="llm", conditions=conditions, layout=layout if has_ref else None, seed=seed)
    rows = []
    for condition in conditions:
        system = AdviceSystem(cfg, ts, condition)
        for item in ts.split("test"):
            rows.append({"item_id": item.id, "condition": condition.value, "reference_song_id": system.reference_song(item),
                         "messages": advisor_messages(system, item)})
    return rows


def _write_inputs(ts: TestSet, out: Path, prompts: list[dict]) -> None:
    from evalkit.audio.io import write_audio

    for item in ts.split("test"):
        stems, sr = ts.stems(item.song_id)
        mix, _ = ts.problem_mix(item)
        write_audio(out / "inputs" / "items" / item.id / "mix.wav", mix, sr)
        for s, x in stems.items():
            write_audio(out / "inputs" / "items" / item.id / f"{s}.wav", x * 10 ** (item.offsets_db.get(s, 0.0) / 20), sr)
    for song_id in sorted({p["reference_song_id"] for p in prompts if p["reference_song_id"]}):
        for s, rel in ts.songs[song_id].stems.items():
            dst = out / "inputs" / "references" / song_id / f"{s}{Path(rel).suffix}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ts.root / rel, dst)
    with open(out / "inputs" / "prompts.jsonl", "w", encoding="utf-8") as f:
        for p in prompts:
            f.write(json.dumps(p, sort_keys=True) + "\n")


def _write_scoring_testset(ts: TestSet, out: Path, reference_songs: set[str]) -> None:
    """The test songs and the reference songs as an evalkit test set (its own manifest and checksums)."""
    test = ts.split("test")
    keep = {i.song_id for i in test} | reference_songs
    d = out / "testset"
    checksums = {}
    for song_id in sorted(keep):
        for rel in ts.songs[song_id].stems.values():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ts.root / rel, d / rel)
            checksums[rel] = sha256_file(d / rel)
    items = [i for i in ts.items if i.song_id in keep]
    (d / "items.jsonl").write_text("".join(i.model_dump_json() + "\n" for i in items))
    checksums["items.jsonl"] = sha256_file(d / "items.jsonl")
    manifest = {"generator": ts.manifest.get("generator", "import"), "released_from": ts.checksum,
                "songs": [ts.songs[s].model_dump(mode="json") for s in sorted(keep)], "checksums": dict(sorted(checksums.items()))}
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _datasheet(ts: TestSet, info: dict, check_truth: dict | None) -> str:
    test = ts.split("test")
    songs = {i.song_id for i in test}
    sources = sorted({ts.songs[s].source for s in songs})
    licences = sorted({str(ts.songs[s].meta.get("license") or "see the source data set's terms") for s in songs})
    styles = sorted({str(ts.songs[s].meta.get("style") or ts.songs[s].meta.get("genre") or "unknown") for s in songs})
    synthetic = sources == ["synth"]
    truth = ("the negated offset: each problem mix was made by changing the gains of 1–3 stems of a balanced song by "
             "known amounts (2–12 dB), so the correction is exact by construction" if synthetic else
             "the engineers' consensus for the song (the median of the engineers' gains where several mixed it), "
             "minus the gains of the mix given; it is what engineers agree on, not what every listener prefers")
    lines = [
        f"# Datasheet: evalkit release {info['release_id']}",
        "",
        "In the spirit of Gebru et al., \"Datasheets for Datasets\" (2021).",
        "",
        "## Motivation",
        "A frozen test set for gain-balancing advice: an advisor is shown a multitrack mix whose stem gains are off balance "
        "and says how to change each stem's gain. Two labs scoring this release score the same items the same way.",
        "",
        "## Composition",
        f"- {len(test)} items ({sum(i.kind == 'control' for i in test)} controls, already balanced) from {len(songs)} songs; "
        f"styles: {', '.join(styles)}.",
        f"- Conditions (what an advisor is shown): {', '.join(info['conditions'])}; stems beside a reference: layout "
        f"`{info['layout']}`. `inputs/prompts.jsonl` holds the prompt of every item under every condition.",
        f"- {len(info['reference_songs'])} reference tracks (other, balanced songs of the train split, never a test song) "
        "under `inputs/references/`.",
        "- Stems: drums, bass, other, vocals.",
        "",
        "## Collection and the truth",
        f"- Source: {', '.join(sources)} (test set `{ts.checksum}`, generator `{ts.manifest.get('generator', 'import')}`).",
        f"- The truth (`truth.jsonl`, the correction in dB per stem) is {truth}.",
    ]
    if check_truth:
        lines.append(f"- `evalkit data check-truth` on the source data when this release was made: {check_truth.get('verdict', '')}")
    elif not synthetic:
        lines.append("- No check of the truth against listeners was found beside this test set (`evalkit data check-truth`).")
    lines += [
        "",
        "## Splits",
        "- Only the test split is released; songs never cross splits. Reference tracks come from the train split.",
        "",
        "## Uses and limits",
        "- Advisors read `inputs/` only. `truth.jsonl` and `testset/` hold the answers, for `evalkit score`.",
        "- Scores come from evalkit's reference judge (rules reader): claims it cannot read score as no change.",
        "- Synthetic songs are simple arrangements; real mixes differ in masking, dynamics and taste." if synthetic else
        "- Real mixes: the consensus of a few engineers is one defensible balance among several.",
        "",
        "## Licence",
        f"- Audio and truth: {'; '.join(licences)}. evalkit code: see its own licence.",
        "",
        "## Submitting",
        "- `submission.schema.json`: JSONL, one line per (item_id, condition) with the advice text and optional model metadata.",
        "- `evalkit score SUBMISSION.jsonl --release THIS_FOLDER --out DIR`, then `evalkit leaderboard DIR... --out BOARD`.",
        "",
    ]
    return "\n".join(lines)


def make_release(testset_dir: str | Path, out: str | Path, *, conditions: list[Condition] | None = None,
                 layout: str = "side-by-side", seed: int = 0, force: bool = False) -> dict[str, Any]:
    """Freeze the test split of ``testset_dir`` into ``out``; return release.json's content."""
    from evalkit.judging.reference import DEFAULT as REFERENCE_OPTIONS
    from evalkit.outputs import staged_dir

    ts = load_testset(testset_dir)
    test = ts.split("test")
    if not test:
        raise EvalkitInputError(f"{testset_dir}: the test set has no test split to release")
    conditions = [Condition(c) for c in (conditions or DEFAULT_CONDITIONS)]
    if Condition.stems_own_reference in conditions:
        raise EvalkitInputError("--conditions: stems+own-reference shows the answer; a benchmark never releases it")
    prompts = _prompts(ts, conditions, layout, seed)
    refs = {p["reference_song_id"] for p in prompts if p["reference_song_id"]}
    check_path = Path(testset_dir) / "truth_check" / "truth_check.json"
    check_truth = json.loads(check_path.read_text()) if check_path.exists() else None
    with staged_dir(Path(out), "release", force=force, inputs=[testset_dir]) as tmp:
        _write_inputs(ts, tmp, prompts)
        _write_scoring_testset(ts, tmp, refs)
        with open(tmp / "truth.jsonl", "w", encoding="utf-8") as f:
            for i in test:
                song = ts.songs[i.song_id]
                f.write(json.dumps({"item_id": i.id, "song_id": i.song_id, "kind": i.kind,
                                    "style": song.meta.get("style") or song.meta.get("genre"),
                                    "correction_db": i.correction_db}, sort_keys=True) + "\n")
        (tmp / "submission.schema.json").write_text(
            json.dumps(submission_schema([c.value for c in conditions], [i.id for i in test]), indent=2) + "\n")
        info = {"conditions": [c.value for c in conditions], "layout": layout, "reference_songs": sorted(refs)}
        checksums = _checksums(tmp)
        info["release_id"] = content_hash(checksums)  # everything but the datasheet, which names the id
        (tmp / "DATASHEET.md").write_text(_datasheet(ts, info, check_truth))
        checksums = _checksums(tmp)
        (tmp / "manifest.json").write_text(json.dumps({"format": FORMAT, "checksums": checksums}, indent=2, sort_keys=True) + "\n")
        release = {"format": FORMAT, "release_id": info["release_id"], "testset_checksum": ts.checksum, "seed": seed,
                   "conditions": info["conditions"], "layout": layout, "n_items": len(test),
                   "n_songs": len({i.song_id for i in test}), "reference_songs": info["reference_songs"],
                   "reader": REFERENCE_OPTIONS.version, "made_with": f"evalkit {__version__}"}
        (tmp / "release.json").write_text(json.dumps(release, indent=2, sort_keys=True) + "\n")
    return release


def _checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*"))
            if p.is_file() and str(p.relative_to(root)) not in UNHASHED}


def verify_release(rel: str | Path) -> dict[str, Any]:
    """release.json, after checking every file against manifest.json: a changed, missing or added file exits 2 naming it."""
    rel = Path(rel)
    try:
        release = json.loads((rel / "release.json").read_text())
        manifest = json.loads((rel / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise EvalkitInputError(f"--release {rel}: not an evalkit release (release.json or manifest.json unreadable: "
                                f"{exc}); make one with `evalkit release TESTSET --out REL`") from exc
    if not isinstance(release, dict) or release.get("format") != FORMAT or not isinstance(manifest.get("checksums"), dict):
        raise EvalkitInputError(f"--release {rel}: release.json is not of format {FORMAT}")
    expected, found = manifest["checksums"], _checksums(rel)
    for name in sorted(expected):
        if name not in found:
            raise EvalkitInputError(f"--release {rel}: {name} is missing (listed in manifest.json); restore the release")
        if found[name] != expected[name]:
            raise EvalkitInputError(f"--release {rel}: {name} has changed since the release was made (checksum differs "
                                    "from manifest.json); scores against it would not be comparable: restore the release")
    added = sorted(set(found) - set(expected))
    if added:
        raise EvalkitInputError(f"--release {rel}: {added[0]} is not part of the release (not in manifest.json); remove it")
    if content_hash({k: v for k, v in expected.items() if k != "DATASHEET.md"}) != release.get("release_id"):
        raise EvalkitInputError(f"--release {rel}: release.json's release_id does not match its files; restore the release")
    return release


__all__ = ["DEFAULT_CONDITIONS", "FORMAT", "make_release", "submission_schema", "verify_release"]
