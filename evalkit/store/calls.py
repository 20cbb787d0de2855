"""The call log: every model call as it completes (prompt, response, params, tokens, latency, cost, error)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from evalkit.errors import StoreError
from evalkit.records import canonical_json, utc_now
from evalkit.secrets import mask_url, redact
from evalkit.store.schema import llm_calls


class CallLog:
    """Writing and reading the call log (needs StoreBase's engine)."""

    # -- the call log -------------------------------------------------------------------------
    def log_call(self, **call: Any) -> None:
        """Log one model call (see ``log_calls``)."""
        self.log_calls([call])

    def log_calls(self, calls: Sequence[dict[str, Any]]) -> None:
        """Log model calls in one transaction: stage, backend, model, params, prompt, prompt_hash, response,
        tokens_in, tokens_out, latency_s, cost_usd, error."""
        now = utc_now()
        rows = [{**c, "params": canonical_json(redact(c["params"])), "prompt": canonical_json(c["prompt"]),
                 "error": mask_url(c["error"]) if c.get("error") else c.get("error"), "created_at": now} for c in calls]
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(llm_calls.insert(), rows)
        except OperationalError as exc:
            raise StoreError(f"{self.display_url}: cannot log model calls ({exc.orig}); is the directory read-only or the disk full?") from exc

    def failed_calls_by(self, stage: str) -> dict[str, int]:
        """Calls of a stage that failed in transport, counted by who made them (``by`` in their params): the log's
        history, so calls that failed and were retried later still count."""
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            q = select(llm_calls.c.params).where((llm_calls.c.stage == stage) & llm_calls.c.error.is_not(None))
            for (params,) in conn.execute(q):
                by = json.loads(params).get("by", "")
                out[by] = out.get(by, 0) + 1
        return out

    def calls_frame(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(select(llm_calls), conn)
