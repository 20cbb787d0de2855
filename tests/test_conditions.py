"""Conditions as a factor within one system, references that never give the answer away, layouts as an
experiment axis, and the declared primary contrasts."""

import pytest

from evalkit.analysis_plan import AnalysisPlan, Contrast
from evalkit.backends.base import Backend
from evalkit.data.reference_pool import choose_reference, reference_pool
from evalkit.data.testset import load_testset
from evalkit.errors import ConfigError
from evalkit.generate import generate, items_for
from evalkit.records import Condition
from evalkit.store import Store
from evalkit.systems import build_system, parse_systems
from evalkit.systems.llm import LLMSystem


def _llm(**over):
    cfg = {"name": "m", "kind": "llm", "conditions": ["mix", "stems", "stems+reference"], "backend": {"name": "openai_compat", "model": "m", "base_url": "http://127.0.0.1:9"}}
    return parse_systems([{**cfg, **over}], "t")[0]


def test_condition_forms_and_layout_checks():
    assert _llm().condition_list == [Condition.mix, Condition.stems, Condition.stems_reference]
    single = parse_systems([{"name": "g", "kind": "generic", "condition": "mix"}], "t")[0]
    assert single.condition_list == [Condition.mix]
    assert _llm(reference="own").condition_list[-1] == Condition.stems_own_reference
    for bad in ({"condition": "mix"}, {"conditions": ["mix", "mix"]}, {"layout": "grouped"},
                {"representation": "audio", "layout": "difference"}, {"kind": "stems-analytic"}):
        with pytest.raises(ConfigError):
            _llm(**bad)
    # the layout is part of the config hash, so two layouts are two comparable systems
    assert _llm(layout="difference").run_hash(Condition.stems_reference) != _llm().run_hash(Condition.stems_reference)


def test_reference_pool_never_holds_the_item_or_a_test_song(small_testset):
    ts = load_testset(small_testset)
    pool = reference_pool(ts.songs, ts.items)
    test_songs = {i.song_id for i in ts.split("test")}
    assert pool and not set(pool) & test_songs
    assert all(all(i.split == "train" for i in ts.items if i.song_id == s) for s in pool)
    for item in ts.items:
        ref = choose_reference(item, ts.songs, pool, seed=0)
        assert ref != item.song_id and ref in pool
        assert choose_reference(item, ts.songs, pool, seed=0) == ref  # deterministic in (seed, item)
    refs = {choose_reference(i, ts.songs, pool, seed=s) for i in ts.split("test") for s in range(8)}
    assert len(refs) > 1  # the seed and item decide, not one fixed song


def test_reference_prefers_the_same_style(small_testset):
    ts = load_testset(small_testset)
    pool = reference_pool(ts.songs, ts.items)
    style = {s: ts.songs[s].meta.get("style") for s in ts.songs}
    for item in ts.split("test"):
        same = [s for s in pool if style[s] == style[item.song_id]]
        ref = choose_reference(item, ts.songs, pool)
        assert (style[ref] == style[item.song_id]) if same else ref in pool


def _reference_part(prompt: str, layout: str) -> str:
    if layout == "side-by-side":
        return prompt.split("Reference track:")[1]
    if layout == "interleaved":
        return "\n".join(line for line in prompt.splitlines() if line.startswith("| reference "))
    return prompt.split("(LU):")[1]


def test_stems_reference_prompt_shows_another_song_never_the_answer(small_testset):
    ts = load_testset(small_testset)
    for layout in ("side-by-side", "difference", "interleaved"):
        system = LLMSystem(_llm(layout=layout), ts, Condition.stems_reference, backend=Backend("none"))
        for item in ts.split("test"):
            ref_song = system.reference_song(item)
            assert ref_song != item.song_id
            prompt = system.request(item).messages[-1]["content"]
            assert "balanced copy of the same song" not in prompt
            part = _reference_part(prompt, layout)
            feats = ts.features(item)
            for song, must in ((ref_song, True), (item.song_id, False)):
                ref = ts.reference_features(song)
                if layout == "difference":
                    cells = [f"{s} {feats[s].relative_loudness_lu - ref[s].relative_loudness_lu:+.1f}" for s in ref if s != "mix"]
                else:
                    prefix = "reference " if layout == "interleaved" else ""
                    cells = [f"| {prefix}{s} | {ref[s].loudness_lufs:.1f} |" for s in ref if s != "mix"]
                shown = [c in part for c in cells]
                assert all(shown) if must else not all(shown), (layout, song, part)
    cfg = _llm()
    own = LLMSystem(_llm(reference="own"), ts, Condition.stems_own_reference, backend=Backend("none"))
    item = ts.split("test")[0]
    assert own.reference_song(item) == item.song_id
    assert "upper-bound condition" in own.request(item).messages[-1]["content"]
    assert cfg.run_hash(Condition.mix) != cfg.run_hash(Condition.stems)


def test_every_condition_is_one_advice_with_its_reference_recorded(small_testset, tmp_path):
    systems = parse_systems([{"name": "analytic", "kind": "analytic", "conditions": ["mix", "stems", "stems+reference"],
                              "max_items": 3}], "t")
    generate(small_testset, systems, tmp_path / "run", show_progress=False)
    advice = Store(tmp_path / "run").advice()
    by_cond = {}
    for a in advice:
        by_cond.setdefault(a.condition, set()).add(a.item_id)
    assert len(by_cond) == 3 and len({frozenset(v) for v in by_cond.values()}) == 1  # the same items in every condition
    assert len(next(iter(by_cond.values()))) == 3
    ts = load_testset(small_testset)
    for a in advice:
        song = ts.item(a.item_id).song_id
        if a.condition == Condition.stems_reference:
            assert a.reference_song_id and a.reference_song_id != song
        else:
            assert a.reference_song_id is None
    chosen = items_for(systems[0], ts.split("test"))
    assert len({i.song_id for i in chosen}) == min(3, len({i.song_id for i in ts.split("test")}))  # spread over songs


def test_analytic_uses_only_what_its_condition_shows(small_testset):
    ts = load_testset(small_testset)
    cfg = parse_systems([{"name": "a", "kind": "analytic", "conditions": ["mix", "stems", "stems+reference"]}], "t")[0]
    mix = build_system(cfg, ts, Condition.mix)
    item = ts.split("test")[0]
    # the mix regression reads only the mix's octave bands: zeroing every stem's own features changes nothing
    feats = ts.features(item)
    assert set(mix._profile(item).shape) == {len(feats["mix"].octave_band_db)}
    stems = build_system(cfg, ts, Condition.stems)
    ref = build_system(cfg, ts, Condition.stems_reference)
    assert stems._target(item) == stems.typical and ref._target(item) != stems.typical


def test_primary_contrasts_auto_and_declared():
    systems = [{"name": "llm", "kind": "llm", "conditions": ["mix", "stems", "stems+reference"]},
               {"name": "oracle", "kind": "oracle", "condition": "stems+own-reference"},
               {"name": "one", "kind": "analytic", "condition": "stems"}]
    auto = AnalysisPlan().resolve(systems)
    assert [c.label for c in auto] == ["llm: stems − mix", "llm: stems+reference − mix"]
    with pytest.raises(ConfigError, match="bound"):
        AnalysisPlan(contrasts=[Contrast(system="oracle", condition="stems")]).resolve(systems)
    with pytest.raises(ConfigError, match="upper bound"):
        AnalysisPlan(contrasts=[Contrast(system="llm", condition="stems+own-reference")]).resolve(systems)


def test_audio_layouts_order_the_clips(small_testset, tmp_path):
    """grouped: all problem stems, then the reference track's stems; interleaved: per stem, problem then reference."""
    ts = load_testset(small_testset)
    item = ts.split("test")[0]
    audio_backend = Backend("none")
    audio_backend.supports_audio = True
    orders = {}
    for layout in ("grouped", "interleaved"):
        cfg = _llm(representation="audio", layout=layout)
        system = LLMSystem(cfg, ts, Condition.stems_reference, audio_dir=tmp_path / layout, backend=audio_backend)
        parts = system.request(item).messages[-1]["content"]
        orders[layout] = [p["path"].rsplit("/", 1)[1] for p in parts if p["type"] == "audio"]
    ref = LLMSystem(_llm(representation="audio"), ts, Condition.stems_reference, audio_dir=tmp_path / "x",
                    backend=audio_backend).reference_song(item)
    stems = list(ts.songs[item.song_id].stems)
    assert orders["grouped"] == [f"{s}.wav" for s in stems] + [f"reference_{ref}_{s}.wav" for s in stems]
    assert orders["interleaved"] == [f for s in stems for f in (f"{s}.wav", f"reference_{ref}_{s}.wav")]
    assert ref != item.song_id


def test_conditions_ask_the_same_question_and_say_same_style_only_when_true(small_testset):
    """Identical instructions across conditions: the system prompt and the closing question are the same text; only the
    material differs. "Same style" is said only when the reference's style is the item's."""
    ts = load_testset(small_testset)
    item = ts.split("test")[0]
    asked = set()
    for cond in Condition:
        cfg = _llm(reference="own") if cond == Condition.stems_own_reference else _llm()
        msgs = LLMSystem(cfg, ts, cond, backend=Backend("none")).request(item).messages
        asked.add((msgs[0]["content"], msgs[-1]["content"].strip().splitlines()[-1]))
    assert len(asked) == 1, asked
    system = LLMSystem(_llm(), ts, Condition.stems_reference, backend=Backend("none"))
    checked = 0
    for item in ts.items:
        ref = system.reference_song(item)
        mine, theirs = ts.songs[item.song_id].meta["style"], ts.songs[ref].meta["style"]
        prompt = system.request(item).messages[-1]["content"]
        assert ("in the same style" in prompt) == (mine == theirs), (mine, theirs, prompt.splitlines()[0])
        checked += mine != theirs
    assert checked, "the small set should hold an item whose style has no song in the pool"


def test_a_subset_of_items_holds_controls_in_their_share(small_testset):
    """max_items keeps control items in the share the split holds (1 in 4 here: 2 of 8) and at least one; one item per
    song before any song gives a second."""
    ts = load_testset(small_testset)
    items = ts.items  # 6 songs × (3 problems + 1 control)
    for n, controls in ((8, 2), (4, 1), (2, 1)):
        chosen = items_for(parse_systems([{"name": "x", "kind": "analytic", "condition": "mix", "max_items": n}], "t")[0], items)
        assert len(chosen) == n and sum(i.kind == "control" for i in chosen) == controls, (n, [i.id for i in chosen])
        assert len({i.song_id for i in chosen}) == min(n, 6)
