"""Readers of advice into level claims, and how to validate one on labelled texts.

Two readers: ``rules`` (``advice_parser.parse_advice``, what the reference judge uses) and an **LLM reader**: any judge
back end (``judges/X.yaml``) asked for the claims as JSON under a schema. An LLM answer that does not parse is
kept as unread with its raw text and counted, never guessed. ``validate`` scores a reader against labelled texts
(precision, recall and F1 per stem and direction, and per style), so a user can check the reader on their own
model's outputs before trusting a run, and compares the LLM reader with the rules reader text by text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.errors import EvalkitInputError
from evalkit.judging.advice_parser import Claim, ParsedAdvice, parse_advice

READER_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["claims"],
    "properties": {"claims": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["stem", "direction", "db"],
        "properties": {"stem": {"enum": ["drums", "bass", "other", "vocals"]}, "direction": {"enum": ["up", "down"]},
                       "db": {"type": ["number", "null"]}}}}},
}
READER_PROMPT = """Read this mixing advice and list every change of a stem's LEVEL (volume, gain, fader) that it asks for.
Stems: drums (kick, snare, cymbals, percussion), bass, vocals (lead and backing), other (guitars, keys, synths, strings…).
A complaint counts as a request: "the vocals are buried" asks for vocals up; "too much bass" asks for bass down.
Give the dB when the advice states one, else null. Leave out EQ, panning, compression, reverb and other effects; leave out
a stem the advice says both to raise and to lower, or "up or down"; leave out moves the advice says not to make.
Answer with JSON only: {{"claims": [{{"stem": "...", "direction": "up" | "down", "db": number | null}}]}}

Advice:
\"\"\"{text}\"\"\""""


@dataclass
class Labelled:
    text: str
    claims: set[tuple[str, str]]
    style: str


def read_labelled(path: str | Path) -> list[Labelled]:
    """JSONL lines ``{"text": ..., "claims": [{"stem", "direction", "db"}], "style": ...}`` (style optional)."""
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalkitInputError(f"{path}: cannot read it as UTF-8 text ({exc}); give a JSONL file of labelled advice") from exc
    for k, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            claims = {(str(c["stem"]), str(c["direction"])) for c in row.get("claims") or []}
            text = row["text"]
            if not isinstance(text, str) or any(d not in ("up", "down") for _, d in claims):
                raise TypeError("text must be a string and each direction up or down")
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise EvalkitInputError(f"{path}:{k}: not a labelled advice line ({type(exc).__name__}: {exc}); each line is "
                                    '{"text": "...", "claims": [{"stem": "vocals", "direction": "up", "db": null}], "style": "..."}') from exc
        out.append(Labelled(text, claims, str(row.get("style") or "unstyled")))
    if not out:
        raise EvalkitInputError(f"{path}: no labelled advice in it; give one JSON object per line")
    return out


def parse_llm_claims(raw: str | None) -> ParsedAdvice | None:
    """The LLM reader's answer as claims, or None when it is not the JSON asked for (kept unread, never guessed)."""
    if not raw:
        return None
    start, end = raw.find("{"), raw.rfind("}")
    try:
        doc = json.loads(raw[start:end + 1]) if start >= 0 else None
        import jsonschema

        jsonschema.validate(doc, READER_SCHEMA)
    except Exception:  # noqa: BLE001 - any malformed answer is an unread answer
        return None
    return ParsedAdvice(claims=[Claim(c["stem"], c["direction"], None if c["db"] is None else abs(float(c["db"])))
                                for c in doc["claims"]])


def read_with_llm(texts: list[str], preset_path: str | Path, log_store=None) -> tuple[list[ParsedAdvice | None], list[str | None]]:
    """Each text read by the judge back end of ``preset_path`` (schema-guided where the back end can); every call is
    logged in ``log_store`` when given. Returns the readings (None: unread) and the raw answers."""
    from evalkit.backends.base import GenerationRequest, create_backend
    from evalkit.calls import run_logged
    from evalkit.judging.rubrics import load_judge

    preset = load_judge(preset_path)
    if preset.backend is None:
        raise EvalkitInputError(f"--reader {preset_path}: the preset has no backend; an LLM reader needs one")
    opts = preset.backend.model_dump()
    backend = create_backend(opts.pop("name"), **opts)
    requests = [GenerationRequest(messages=[{"role": "user", "content": READER_PROMPT.format(text=t)}], max_tokens=max(preset.max_tokens, 200),
                                  temperature=preset.temperature, seed=preset.seed, json_schema=READER_SCHEMA, key=f"reader/{k}")
                for k, t in enumerate(texts)]
    try:
        results = run_logged(backend, requests, log_store, stage="read", by=f"reader:{preset.name}") if log_store is not None \
            else backend.generate_sync(requests)
    finally:
        backend.close()
    return [parse_llm_claims(r.text) for r in results], [r.text if r.ok else f"error: {r.error}" for r in results]


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f}


def validate(rows: list[Labelled], readings: list[ParsedAdvice | None]) -> dict[str, pd.DataFrame]:
    """Precision, recall and F1 of a reader over (stem, direction) claims: per stem and direction, per style, overall.
    Unread texts (an LLM answer that did not parse) count their labelled claims as missed, and are counted."""
    got = [{(c.stem, c.direction) for c in r.claims} if r is not None else set() for r in readings]
    keys = sorted({k for row in rows for k in row.claims} | {k for g in got for k in g})
    per_claim = [{"stem": s, "direction": d, **_prf(sum((s, d) in g and (s, d) in row.claims for row, g in zip(rows, got, strict=True)),
                                                    sum((s, d) in g and (s, d) not in row.claims for row, g in zip(rows, got, strict=True)),
                                                    sum((s, d) not in g and (s, d) in row.claims for row, g in zip(rows, got, strict=True)))}
                 for s, d in keys]
    styles = sorted({r.style for r in rows})
    per_style = []
    for style in [*styles, "all"]:
        pairs = [(row, g, rd) for row, g, rd in zip(rows, got, readings, strict=True) if style == "all" or row.style == style]
        tp = sum(len(g & row.claims) for row, g, _ in pairs)
        per_style.append({"style": style, "texts": len(pairs), "unread": sum(rd is None for *_, rd in pairs),
                          "exact": sum(g == row.claims for row, g, _ in pairs),
                          **_prf(tp, sum(len(g - row.claims) for row, g, _ in pairs), sum(len(row.claims - g) for row, g, _ in pairs))})
    return {"by_claim": pd.DataFrame(per_claim), "by_style": pd.DataFrame(per_style)}


def reader_agreement(a: list[ParsedAdvice | None], b: list[ParsedAdvice | None]) -> dict[str, float]:
    """How often two readers read a text the same way: identical claim sets, and claim-level F1 of one against the other."""
    both = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    sets = [({(c.stem, c.direction) for c in x.claims}, {(c.stem, c.direction) for c in y.claims}) for x, y in both]
    tp = sum(len(x & y) for x, y in sets)
    diff = sum(len(x ^ y) for x, y in sets)
    return {"texts": len(both), "identical": sum(x == y for x, y in sets) / len(sets) if sets else float("nan"),
            "claim_f1": 2 * tp / (2 * tp + diff) if tp + diff else float("nan")}


def rules_reader(texts: list[str]) -> list[ParsedAdvice]:
    return [parse_advice(t) for t in texts]


__all__ = ["READER_SCHEMA", "Labelled", "parse_llm_claims", "read_labelled", "read_with_llm", "reader_agreement", "rules_reader",
           "validate"]
