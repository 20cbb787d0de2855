"""How long a participant listened, checked by the server instead of taken from the browser.

The browser counts the media seconds each clip actually played (seeks are not counted) and reports play, pause,
ended and listened events with that count. The browser's count is a claim: one line in the console can send any
number. The server holds it to its own clock. It logs, with its own receipt time, when it first showed the question
(a ``shown`` event). It credits a clip with

    heard = min(the browser's count in an event, server seconds from ``shown`` to that event's receipt)

so dragging the player to the end (the browser's count stays near 0) and a forged event sent at once (no server
time has passed) both count for nothing. Forging the count still costs the listening time in real seconds. A clip
counts as heard when ``heard`` reaches the study's minimum, or nearly all of a clip shorter than that.

The server's receipt times of player events cannot be used on their own: a busy server handles several events in
one rerun, so a "play" can arrive together with the "ended" of the same clip.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

REPORTING = ("listened", "ended", "pause")  # events that carry the browser's count of seconds played
LATENCY_S = 0.5  # a short clip: the browser misses its first moments when playing starts before its listeners attach


def heard_seconds(events: list[dict[str, Any]], shown_at: str | None) -> dict[str, float]:
    """Seconds credited per clip. ``events``: dicts with ``clip``, ``kind``, ``listened_s`` and ``at`` (the server's
    receipt time, ISO 8601). ``shown_at``: when the server first showed the question (None: nothing is credited)."""
    if shown_at is None:
        return {}
    start = datetime.fromisoformat(shown_at)
    heard: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("kind") not in REPORTING or e.get("clip") is None:
            continue
        try:
            claimed = float(e.get("listened_s") or 0.0)
        except (TypeError, ValueError):
            continue
        clock = (datetime.fromisoformat(e["at"]) - start).total_seconds()
        clip = str(e["clip"])
        heard[clip] = max(heard[clip], max(0.0, min(claimed, clock)))
    return dict(heard)


def required_seconds(min_s: float, duration_s: float | None) -> float:
    """The listening a clip needs: the study's minimum, or nearly all of a shorter clip."""
    if duration_s is None:
        return min_s
    return max(0.0, min(min_s, duration_s - LATENCY_S))


def clips_heard(events: list[dict[str, Any]], durations: dict[str, float | None], min_s: float,
                shown_at: str | None) -> set[str]:
    """The clips (of ``durations``) heard for what they need."""
    heard = heard_seconds(events, shown_at)
    return {c for c, d in durations.items() if c in heard and heard[c] >= required_seconds(min_s, d) - 1e-9}


__all__ = ["clips_heard", "heard_seconds", "required_seconds"]
