"""The server holds the browser's listening claims to its own clock (issue #24): seeking to the end, a forged event
sent at once, and events before the question was shown count for nothing; real playing counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evalkit.study.listening import clips_heard, heard_seconds, required_seconds

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def _at(s: float) -> str:
    return (T0 + timedelta(seconds=s)).isoformat()


def _ev(kind, claimed, at_s, clip="mix"):
    return {"clip": clip, "kind": kind, "listened_s": claimed, "position_s": claimed, "at": _at(at_s)}


def test_real_playing_counts():
    # shown at 0; played from 0.5 s; the browser reports 3.1 s heard at 3.7 s and 5.1 s at 5.7 s (server times)
    evs = [_ev("play", 0.0, 0.5), _ev("listened", 3.1, 3.7), _ev("pause", 5.1, 5.7)]
    assert heard_seconds(evs, _at(0)) == {"mix": pytest.approx(5.1)}
    assert clips_heard(evs, {"mix": 12.0}, 3.0, _at(0)) == {"mix"}


def test_seeking_to_the_end_claims_nothing_and_is_credited_nothing():
    # the attack from the issue: play, drag to the end; the browser's own count stays at 0.1 s
    evs = [_ev("play", 0.0, 0.3), _ev("listened", 0.1, 0.84), _ev("ended", 0.1, 0.84)]
    assert heard_seconds(evs, _at(0))["mix"] == pytest.approx(0.1)
    assert clips_heard(evs, {"mix": 12.0}, 3.0, _at(0)) == set()


def test_a_forged_claim_is_capped_by_the_time_that_passed():
    forged = [_ev("listened", 30.0, 0.54)]  # one console line, half a second after the question appeared
    assert heard_seconds(forged, _at(0)) == {"mix": pytest.approx(0.54)}
    assert clips_heard(forged, {"mix": 30.0}, 3.0, _at(0)) == set()
    assert clips_heard(forged, {"mix": 30.0}, 3.0, None) == set()  # never shown by the server: nothing credited


def test_clips_are_counted_apart_and_a_short_clip_needs_nearly_all_of_itself():
    evs = [_ev("ended", 4.45, 6.0, clip="after_a"), _ev("listened", 1.2, 6.0), _ev("listened", 3.9, 6.0, clip="after_b")]
    assert clips_heard(evs, {"mix": 10.0, "after_a": 4.5, "after_b": 4.5}, 5.0, _at(0)) == {"after_a"}  # 4.45 ≥ 4.0, 3.9 < 4.0


def test_required_seconds():
    assert required_seconds(3.0, None) == 3.0 and required_seconds(3.0, 10.0) == 3.0
    assert required_seconds(3.0, 2.0) == pytest.approx(1.5)
