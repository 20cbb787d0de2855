"""Shared pieces for the reliability suite: a deterministic scripted endpoint and an experiment config."""

from __future__ import annotations

import hashlib
import json

import yaml

from tests.conftest import ROOT
from tests.fake_openai import Reply


def deterministic_script(delay_s: float = 0.02):
    """Replies that depend only on the prompt, so an interrupted run and an uninterrupted one agree."""

    def script(req: dict, n: int) -> Reply:
        prompt = json.dumps(req["messages"], sort_keys=True)
        h = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
        content = req["messages"][-1]["content"]
        text = content if isinstance(content, str) else ""
        if "Advice A:" in text:
            return Reply(json.dumps({"rationale": "scripted", "verdict": "ABt"[h % 3].replace("t", "tie")}), delay_s=delay_s)
        if "Score on this scale" in text:
            return Reply(json.dumps({"rationale": "scripted", "score": 1 + h % 5}), delay_s=delay_s)
        stem = ("drums", "bass", "other", "vocals")[h % 4]
        return Reply(f"{'Raise' if h % 2 else 'Lower'} the {stem} by {1 + h % 6} dB.", delay_s=delay_s)

    return script


def experiment(tmp_path, testset, base_url: str, *, max_attempts: int = 4, study: bool = False, name: str = "exp.yaml"):
    judge = tmp_path / "api-judge.yaml"
    judge.write_text(yaml.safe_dump({
        "name": "api-judge", "protocol": "both", "rubrics": ["pairwise", "specificity"], "both_orders": True,
        "backend": {"name": "openai_compat", "model": "fake", "base_url": base_url, "max_concurrency": 4,
                    "max_attempts": max_attempts, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 1.0}}))
    systems = yaml.safe_load((ROOT / "experiments" / "systems.yaml").read_text())["systems"] + [
        {"name": "api-llm", "kind": "llm", "condition": "stems+reference", "chunk": 2,
         "backend": {"name": "openai_compat", "model": "fake", "base_url": base_url, "max_concurrency": 2,
                     "max_attempts": max_attempts, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 1.0}}]
    cfg = {"name": "reliability", "testset": {"path": str(testset)}, "systems": systems,
           "judges": [{"preset": "judges/reference.yaml"}, {"preset": str(judge), "max_pairs": 12}],
           "study": {"enabled": study}, "report": {"bootstrap": 50}}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path
