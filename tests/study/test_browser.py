"""A whole participant session in a real browser against a real `evalkit study serve`."""

import json

import pytest

from evalkit.study.store import StudyStore
from tests.study.browser import browser, serve

pytestmark = pytest.mark.slow


def _answer_current_trial(page, choice="Advice A"):
    page.get_by_role("radiogroup", name="Which advice would you rather follow?").get_by_text(choice, exact=True).click()
    page.get_by_role("button", name="Submit answer").click()


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
            assert page.locator("audio").count() >= 1
            _answer_current_trial(page, "Advice B" if k % 2 else "Advice A")
        page.get_by_text("Your completion code: C0DE1234").wait_for()
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
