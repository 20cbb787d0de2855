"""What the stages write and read: songs and items, advice, judgments and study answers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy import select

from evalkit.records import Advice, Item, Judgment, Preference, Song, utc_now
from evalkit.store.schema import advice, items, judgments, preferences, songs


class RunRecords:
    """Songs, items, advice, judgments and preferences (needs StoreBase's engine and _insert)."""

    # -- songs and items ----------------------------------------------------------------------
    def put_songs(self, values: Iterable[Song]) -> int:
        return self._insert(
            songs, [{"id": s.id, "source": s.source, "body": s.model_dump_json()} for s in values]
        )

    def put_items(self, values: Iterable[Item]) -> int:
        return self._insert(
            items,
            [{"id": i.id, "song_id": i.song_id, "split": str(i.split), "kind": i.kind, "body": i.model_dump_json()} for i in values],
        )

    def songs(self) -> dict[str, Song]:
        with self.engine.connect() as conn:
            return {r.id: Song.model_validate_json(r.body) for r in conn.execute(select(songs))}

    def items(self, split: str | None = None) -> list[Item]:
        q = select(items).order_by(items.c.id)
        if split:
            q = q.where(items.c.split == split)
        with self.engine.connect() as conn:
            return [Item.model_validate_json(r.body) for r in conn.execute(q)]

    # -- advice -------------------------------------------------------------------------------
    def put_advice(self, value: Advice) -> None:
        row = {
            "id": value.id, "item_id": value.item_id, "system": value.system, "condition": str(value.condition),
            "status": "ok", "text": value.text, "error": None, "attempts": 1, "config_hash": value.config_hash,
            "body": value.model_dump_json(), "created_at": utc_now(),
        }
        # A failed attempt may be replaced by a success; a success is never overwritten.
        self._insert(advice, [row], update=["status", "text", "error", "body", "created_at"], where=advice.c.status != "ok")

    def put_advice_failure(self, item_id: str, system: str, condition: str, config_hash: str, error: str) -> None:
        from evalkit.records import advice_id

        aid = advice_id(item_id, system, condition)
        with self.engine.begin() as conn:
            existing = conn.execute(select(advice.c.status, advice.c.attempts).where(advice.c.id == aid)).first()
            if existing and existing.status == "ok":
                return
            if existing:
                conn.execute(advice.update().where(advice.c.id == aid).values(error=error, attempts=existing.attempts + 1))
                return
        self._insert(advice, [{
            "id": aid, "item_id": item_id, "system": system, "condition": condition, "status": "failed",
            "text": None, "error": error, "attempts": 1, "config_hash": config_hash, "body": "{}", "created_at": utc_now(),
        }])

    def advice_config_hashes(self) -> dict[tuple[str, str], set[str]]:
        """(system, condition) -> the config hashes its stored advice was made with."""
        out: dict[tuple[str, str], set[str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(select(advice.c.system, advice.c.condition, advice.c.config_hash).distinct()):
                out.setdefault((r.system, r.condition), set()).add(r.config_hash)
        return out

    def delete_system(self, system: str) -> int:
        """Remove a system's advice and every judgment of it (for `generate --force`); returns advice rows removed."""
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(select(advice.c.id).where(advice.c.system == system))]
            for k in range(0, len(ids), 500):
                chunk = ids[k:k + 500]
                conn.execute(judgments.delete().where(judgments.c.advice_id.in_(chunk) | judgments.c.advice_id_b.in_(chunk)))
            return conn.execute(advice.delete().where(advice.c.system == system)).rowcount

    def advice_status(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.id: r.status for r in conn.execute(select(advice.c.id, advice.c.status))}

    def advice_ok_among(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` already have advice (a worker may have saved them and died before saying so)."""
        with self.engine.connect() as conn:
            return {r[0] for k in range(0, len(ids), 500) for r in conn.execute(
                select(advice.c.id).where(advice.c.id.in_(list(ids[k:k + 500])) & (advice.c.status == "ok")))}

    def advice(self, *, include_failed: bool = False) -> list[Advice]:
        q = select(advice.c.body).order_by(advice.c.item_id, advice.c.system)
        if not include_failed:
            q = q.where(advice.c.status == "ok")
        with self.engine.connect() as conn:
            return [Advice.model_validate_json(r.body) for r in conn.execute(q)]

    def advice_frame(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(
                select(advice.c.id, advice.c.item_id, advice.c.system, advice.c.condition, advice.c.status,
                       advice.c.text, advice.c.error, advice.c.attempts), conn)

    # -- judgments ----------------------------------------------------------------------------
    def put_judgments(self, values: Iterable[Judgment]) -> int:
        """Save judgments; a row recorded as a failed call is replaced when the call is retried."""
        rows = [{
            "key": j.key, "advice_id": j.advice_id, "advice_id_b": j.advice_id_b, "judge": j.judge, "rubric": j.rubric,
            "rubric_hash": j.rubric_hash, "protocol": j.protocol, "order": j.order, "sample_index": j.sample_index,
            "score": j.score, "verdict": j.verdict, "parsed": j.parsed, "failure": j.failure, "body": j.model_dump_json(),
            "created_at": utc_now(),
        } for j in values]
        rows = list({r["key"]: r for r in rows}.values())  # one row per key: PostgreSQL's upsert refuses repeats in a batch
        return self._insert(judgments, rows, update=["score", "verdict", "parsed", "failure", "body", "created_at"],
                            where=judgments.c.failure == "api")

    def judgment_versions(self, judge: str) -> dict[tuple[str, str], int]:
        """How many judgments of ``judge`` were made under each (judge config hash, rubric hash)."""
        out: dict[tuple[str, str], int] = {}
        with self.engine.connect() as conn:
            for body, rubric_hash in conn.execute(select(judgments.c.body, judgments.c.rubric_hash).where(judgments.c.judge == judge)):
                key = (json.loads(body).get("judge_config_hash", ""), rubric_hash)
                out[key] = out.get(key, 0) + 1
        return out

    def delete_judge(self, judge: str) -> int:
        """Remove every judgment of ``judge`` (for `judge --force`); returns rows removed."""
        with self.engine.begin() as conn:
            return conn.execute(judgments.delete().where(judgments.c.judge == judge)).rowcount

    def judgment_keys(self, judge: str | None = None, *, include_failed_calls: bool = False) -> set[str]:
        """Keys of judgments already made (a failed call is not one, so it is retried)."""
        q = select(judgments.c.key)
        if not include_failed_calls:
            q = q.where((judgments.c.failure.is_(None)) | (judgments.c.failure != "api"))
        if judge:
            q = q.where(judgments.c.judge == judge)
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(q)}

    def judgments_made_among(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` already have a judgment that is not a failed call."""
        ok = (judgments.c.failure.is_(None)) | (judgments.c.failure != "api")
        with self.engine.connect() as conn:
            return {r[0] for k in range(0, len(keys), 500) for r in conn.execute(
                select(judgments.c.key).where(judgments.c.key.in_(list(keys[k:k + 500])) & ok))}

    def judgments(self, judge: str | None = None) -> list[Judgment]:
        q = select(judgments.c.body).order_by(judgments.c.key)
        if judge:
            q = q.where(judgments.c.judge == judge)
        with self.engine.connect() as conn:
            return [Judgment.model_validate_json(r.body) for r in conn.execute(q)]

    # -- preferences --------------------------------------------------------------------------
    def put_preference(self, value: Preference) -> bool:
        """Save one answer; True if it was new. A second submit of the same trial changes nothing."""
        return self.put_preferences([value]) == 1

    def put_preferences(self, values: Sequence[Preference]) -> int:
        """Save the answers of one trial (one per criterion) in one transaction; returns how many were new."""
        return self._insert(preferences, [{
            "key": v.key, "participant_id": v.participant_id, "trial_id": v.trial_id, "item_id": v.item_id,
            "system_a": v.system_a, "system_b": v.system_b, "choice": v.choice, "simulated": v.simulated,
            "body": v.model_dump_json(), "answered_at": v.answered_at, "study_id": v.study_id, "criterion": v.criterion,
        } for v in values])

    def preferences(self, study_id: str | None = None) -> list[Preference]:
        """All answers, or one study's: studies sharing a store never see each other's answers."""
        q = select(preferences.c.body).order_by(preferences.c.answered_at)
        if study_id is not None:
            q = q.where(preferences.c.study_id == study_id)
        with self.engine.connect() as conn:
            return [Preference.model_validate_json(r.body) for r in conn.execute(q)]
