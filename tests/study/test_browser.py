"""A whole participant session in a real browser against a real `evalkit study serve`."""

import json

import pytest
from playwright.sync_api import expect

from evalkit.study.store import StudyStore
from tests.study.browser import answer, browser, serve, settle

pytestmark = pytest.mark.slow


def test_participant_session_from_consent_to_code_with_reload(study_dir, tmp_path):
    cfg = json.loads((study_dir / "study.json").read_text())
    study = StudyStore(study_dir)
    with serve(study_dir, {"EVALKIT_ADMIN_TOKEN": "s3cret"}) as url, browser() as b:
        page = b.new_page()
        page.set_default_timeout(20000)
        page.goto(f"{url}/?PROLIFIC_PID=e2e-participant-1&STUDY_ID=s1&SESSION_ID=x1")
        page.get_by_text("I am 18 or older").click()
        page.get_by_role("button", name="Continue").click()
        page.get_by_text("Sound check").wait_for()
        settle(page)
        for k, ans in enumerate(cfg["headphone_answers"]):
            page.get_by_role("radiogroup", name=f"Quietest tone in clip {k + 1}").get_by_text(str(ans), exact=True).click()
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("button", name="Start").click()
        total = study.next_trial("e2e-participant-1")[2]
        for k in range(total):
            page.get_by_text(f"Question {k + 1} of {total}").wait_for()
            if k == 2:
                page.reload()  # a reload mid-study resumes exactly here
                page.get_by_text(f"Question {k + 1} of {total}").wait_for()
            # the player streams in just after the progress text: wait for it, don't count at once
            expect(page.locator("audio").first).to_be_attached()
            answer(page, "Advice B" if k % 2 else "Advice A")
        try:
            page.get_by_text("Your completion code: C0DE1234").wait_for()
        except Exception as exc:
            raise AssertionError(f"no completion page; the browser shows: {page.inner_text('body')[:1500]}") from exc
        page.screenshot(path=str(tmp_path / "done.png"))
        # system names are never shown to participants
        body = page.inner_text("body")
        assert "oracle" not in body and "generic" not in body
    answers = study.store.preferences()
    assert len(answers) == total and len({a.trial_id for a in answers}) == total
    assert study.participant("e2e-participant-1")["completion_code"] == "C0DE1234"


def test_admin_page_in_the_browser_needs_the_token(study_dir):
    with serve(study_dir, {"EVALKIT_ADMIN_TOKEN": "s3cret"}) as url, browser() as b:
        page = b.new_page()
        page.set_default_timeout(20000)
        page.goto(f"{url}/admin?token=wrong")
        page.get_by_text("Wrong token").wait_for()
        assert page.get_by_role("button", name="Download answers (CSV)").count() == 0
        page.goto(f"{url}/admin?token=s3cret")
        page.get_by_role("button", name="Download answers (CSV)").wait_for()


def test_two_app_processes_share_one_postgresql_study(analytic_run, tmp_path, pg_url):
    """Two `streamlit` servers on one PostgreSQL study; participants alternate between them, reload,
    and double-click submit: exactly one row per answered trial, nobody sees another's trials."""
    from evalkit.study.design import create_study

    study_dir = tmp_path / "pgstudy"
    create_study(analytic_run, study_dir, ratings=2, trials_per_participant=3, gold_per_participant=0, max_items=2,
                 headphone_check=False, store_url=pg_url, show_progress=False)
    study = StudyStore(study_dir)
    pids = [f"pg-participant-{k}" for k in range(4)]
    with serve(study_dir) as url_a, serve(study_dir) as url_b, browser() as b:
        pages = []
        for k, pid in enumerate(pids):
            page = b.new_page()
            page.set_default_timeout(30000)
            page.goto(f"{(url_a, url_b)[k % 2]}/?PROLIFIC_PID={pid}")
            page.get_by_text("I am 18 or older").click()
            page.get_by_role("button", name="Continue").click()
            settle(page)
            page.get_by_role("button", name="Start").click()
            pages.append(page)
        totals = {pid: study.next_trial(pid)[2] for pid in pids}
        for step in range(max(totals.values())):
            for k, (pid, page) in enumerate(zip(pids, pages, strict=True)):
                if step >= totals[pid]:
                    continue
                page.get_by_text(f"Question {step + 1} of {totals[pid]}").wait_for()
                if step == 1:
                    page.goto(f"{(url_b, url_a)[k % 2]}/?PROLIFIC_PID={pid}")  # reload on the *other* server
                    page.get_by_text(f"Question {step + 1} of {totals[pid]}").wait_for()
                answer(page, "Advice A", double=True)  # a double submit
        for page in pages:
            page.get_by_text("Your completion code").wait_for()
    prefs = study.store.preferences()
    assert len(prefs) == sum(totals.values()) == len({(p.participant_id, p.trial_id) for p in prefs})
    for pid in pids:
        own = {t.trial_id for t in study.trials(pid)}
        assert {p.trial_id for p in prefs if p.participant_id == pid} == own
