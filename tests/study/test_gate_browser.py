"""The listening gate against a participant who would rather not listen (issue #24), in a real browser: dragging the
player to the end and a console line that sets the page's own count both leave the questions locked, because the
server credits no more than the time it has itself seen pass since it showed the question. Real listening unlocks."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from evalkit.study.design import create_study
from evalkit.study.study_store import StudyStore
from tests.study.browser import answer, at_first_question, browser, play_to_unlock, second_tab, serve, settle

pytestmark = pytest.mark.slow

MIX = "[class*='st-key-clip-'][class*='-mix'] audio"
SEEK_TO_END = """a => new Promise((done) => {
  a.addEventListener('ended', () => done(), { once: true });
  a.play().then(() => { a.currentTime = a.duration - 0.05; });
  setTimeout(done, 5000);
})"""
# The console line: the page's count of seconds played set to 99 s; a moment of real play then sends it to the server.
FORGE = "() => { for (const s of Object.values(window.__evalkitListen)) { s.played.mix = 99; s.done = {}; } }"
SHORT_PLAY = "a => new Promise((done) => { a.currentTime = 0; a.play(); setTimeout(() => { a.pause(); done(); }, 600); })"


def _wait_for_event(study: StudyStore, pid: str, test, timeout_s: float = 15.0) -> dict:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        ev = study.events_frame()
        for row in ev[ev.participant_id == pid].itertuples():
            detail = json.loads(row.detail or "{}")
            if test(row.kind, detail):
                return detail
        time.sleep(0.2)
    raise AssertionError("the browser's event never reached the server")


def _two_question_study(analytic_run, tmp_path, listen_min_s: float) -> StudyStore:
    """One participant's two questions, no sound check, answers locked until each clip was heard for ``listen_min_s``."""
    create_study(analytic_run, tmp_path / "study", ratings=1, trials_per_participant=2, gold_per_participant=0, max_items=2,
                 headphone_check=False, listen_min_s=listen_min_s, show_progress=False)
    return StudyStore(tmp_path / "study")


def test_seek_to_end_and_a_console_forgery_leave_the_questions_locked(analytic_run, tmp_path):
    study = _two_question_study(analytic_run, tmp_path, 10.0)
    pid = "e2e-skipper"
    with serve(tmp_path / "study") as url, browser() as b:
        page = at_first_question(b, url, pid, None)
        settle(page)
        page.locator(MIX).evaluate(SEEK_TO_END)
        seek = _wait_for_event(study, pid, lambda kind, d: kind == "ended" and d.get("clip") == "mix")
        assert seek["listened_s"] < 1.0  # the browser's own count: the drag to the end is not playing
        page.wait_for_function("() => window.__evalkitListen")
        page.evaluate(FORGE)
        page.locator(MIX).evaluate(SHORT_PLAY)
        _wait_for_event(study, pid, lambda kind, d: d.get("clip") == "mix" and (d.get("listened_s") or 0) >= 99)
        settle(page)
        expect(page.get_by_role("button", name="Submit answer")).to_be_disabled()
        expect(page.get_by_text("to unlock the questions")).to_be_visible()
        trial = study.next_trial(pid)[0]
        assert study.listened(pid, trial.trial_id) == set()  # 99 s claimed, under 10 s credited
        play_to_unlock(page)  # listening for real unlocks them
    assert study.answers_frame().empty


def test_the_sound_check_cannot_be_answered_before_its_clips_are_heard(gated_study_dir):
    pid = "e2e-unheard-check"
    study = StudyStore(gated_study_dir)
    with serve(gated_study_dir) as url, browser() as b:
        page = b.new_page()
        page.set_default_timeout(20000)
        page.goto(f"{url}/?PROLIFIC_PID={pid}")
        page.get_by_text("I am 18 or older").click()
        page.get_by_role("button", name="Continue").click()
        page.get_by_text("Sound check").wait_for()
        settle(page)
        expect(page.get_by_role("button", name="Continue")).to_be_disabled()
        page.wait_for_function("() => window.__evalkitListen && window.__evalkitListen.soundcheck")  # the tracker is mounted
        page.evaluate("() => { const s = window.__evalkitListen.soundcheck; s.played.c0 = 99; s.done = {}; }")
        page.locator("[class*='st-key-hc-c0'] audio").evaluate(SHORT_PLAY)
        _wait_for_event(study, pid, lambda kind, d: d.get("clip") == "c0" and (d.get("listened_s") or 0) >= 99)
        settle(page)
        expect(page.get_by_role("radiogroup", name="Quietest tone in clip 1").get_by_role("radio").first).to_be_disabled()
        expect(page.get_by_role("button", name="Continue")).to_be_disabled()
    assert study.participant(pid)["headphone_passed"] is None


def test_two_participants_fetch_their_sound_check_clips_from_different_addresses(study_dir):
    """One participant's clip addresses (posted with their answers) are none of another's: the key is worthless."""
    def addresses(b, url, pid):
        page = b.new_context().new_page()
        page.set_default_timeout(20000)
        page.goto(f"{url}/?PROLIFIC_PID={pid}")
        page.get_by_text("I am 18 or older").click()
        page.get_by_role("button", name="Continue").click()
        page.get_by_text("Sound check").wait_for()
        players = page.locator("[class*='st-key-hc-c'] audio")
        expect(players).to_have_count(6)
        srcs = [p.get_attribute("src") for p in players.all()]
        page.context.close()
        return srcs

    with serve(study_dir) as url, browser() as b:
        one, two = addresses(b, url, "e2e-poster"), addresses(b, url, "e2e-reader")
    assert len(set(one)) == 6 and len(set(two)) == 6 and not set(one) & set(two)


def test_a_stale_tab_on_a_gated_study_is_told_its_answer_lost_and_the_next_question_is_locked(analytic_run, tmp_path):
    """Two tabs of one participant on question 1 of a study with a listening minimum; both listen until it unlocks. The
    first answers. The second's different answer is checked against question 1's clips (the ones it heard), not
    question 2's: it is not saved, the tab says so, and question 2 comes up locked until its own clips are heard."""
    study = _two_question_study(analytic_run, tmp_path, 1.0)
    pid = "e2e-gated-two-tabs"
    with serve(tmp_path / "study") as url, browser() as b:
        first = at_first_question(b, url, pid, None)
        second = second_tab(first)
        play_to_unlock(first)
        play_to_unlock(second)
        # the second tab goes quiet (its clips played out, their last events in): any later rerun of it would show
        # the next question, and there would be no stale answer to give
        second.wait_for_function("() => [...document.querySelectorAll('audio')].every((a) => a.ended)", timeout=30000)
        settle(second)
        second.wait_for_timeout(500)
        settle(second)
        answer(first, follow="Advice A", specific="Advice A", confidence="4 · sure")
        first.get_by_text("Answer 1 saved.").wait_for()
        answer(second, follow="Advice B", specific="Advice B", confidence="2 · unsure")
        second.get_by_text("already answered in another window").wait_for()
        second.get_by_text("Question 2 of").wait_for()
        settle(second)
        expect(second.get_by_role("button", name="Submit answer")).to_be_disabled()
        expect(second.get_by_text("to unlock the questions")).to_be_visible()
    rows = study.answers_frame()
    mine = rows[rows.participant_id == pid]
    assert len(mine) == 2 and set(mine.confidence) == {4} and mine.trial_id.nunique() == 1  # the first tab's answer only
    events = study.events_frame()
    assert (events[events.participant_id == pid].kind == "stale_tab_answer").sum() == 1
    assert (events[events.participant_id == pid].kind == "ungated_submit").sum() == 0  # the stale submit was not taken as forged
