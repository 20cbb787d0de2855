"""A whole participant session in a real browser against a real `evalkit study serve`."""

import json

import pytest
from playwright.sync_api import expect

from evalkit.study.config import StudyConfig
from evalkit.study.outcomes import export_answers
from evalkit.study.study_store import StudyStore
from tests.study.browser import (
    answer,
    at_first_question,
    browser,
    consent_and_screen,
    play_to_unlock,
    serve,
    settle,
)

pytestmark = pytest.mark.slow


def _scroll_top(page) -> float:
    return page.evaluate("""() => Math.max(window.scrollY, ...Array.from(document.querySelectorAll(
        '[data-testid="stAppViewContainer"], [data-testid="stMain"], section.main')).map(e => e.scrollTop))""")


def test_participant_session_gated_listening_reload_and_top_of_page(gated_study_dir, tmp_path):
    """Consent → sound check → trials: answers stay locked until the mix is played; plays are logged;
    a reload resumes; after Submit the next question starts at the top with a 'saved' note."""
    cfg = StudyConfig.load(gated_study_dir)
    study = StudyStore(gated_study_dir)
    pid = "e2e-participant-1"
    with serve(gated_study_dir, {"EVALKIT_ADMIN_TOKEN": "s3cret"}) as url, browser() as b:
        page = b.new_page(viewport={"width": 1000, "height": 500})  # short: the form is below the fold
        page.set_default_timeout(20000)
        consent_and_screen(page, url, pid, cfg)
        page.get_by_role("button", name="Start").click()
        total = study.next_trial(pid)[2]
        for k in range(total):
            page.get_by_text(f"Question {k + 1} of {total}").wait_for()
            settle(page)
            if k == 0:
                expect(page.get_by_text("to unlock the questions")).to_be_visible()
                expect(page.get_by_role("button", name="Submit answer")).to_be_disabled()
                expect(page.get_by_role("radiogroup", name="Which advice would you rather follow?").get_by_role("radio").first
                       ).to_be_disabled()
            else:
                assert f"Answer {k} saved." in page.inner_text("body")
                assert _scroll_top(page) == 0  # the next question starts from the top
                expect(page.get_by_text(f"Question {k + 1} of {total}")).to_be_in_viewport()
            if k == 2:
                page.reload()  # a reload mid-study resumes exactly here (the URL keeps the browser key)
                page.get_by_text(f"Question {k + 1} of {total}").wait_for()
            play_to_unlock(page)
            page.get_by_role("button", name="Submit answer").scroll_into_view_if_needed()
            assert _scroll_top(page) > 0
            answer(page, "Advice B" if k % 2 else "Advice A")
        try:
            page.get_by_text("Your completion code: C0DE1234").wait_for()
        except Exception as exc:
            raise AssertionError(f"no completion page; the browser shows: {page.inner_text('body')[:1500]}") from exc
        page.screenshot(path=str(tmp_path / "done.png"))
        body = page.inner_text("body")  # system names are never shown to participants
        assert "oracle" not in body and "generic" not in body
    answers = study.answers_frame()
    assert len(answers) == 2 * total and answers.groupby("criterion").trial_id.nunique().to_dict() == {"helpfulness": total,
                                                                                                      "specificity": total}
    events = study.events_frame()
    listened = events[events.kind == "listened"]
    sound_check = listened[listened.trial_id == "soundcheck"]
    assert sound_check.detail.map(lambda d: json.loads(d)["clip"]).nunique() == 6  # each sound-check clip heard first
    assert set(listened.trial_id) - {"soundcheck"} == set(answers.trial_id)  # every answered trial was played first, and logged
    heard = export_answers(study)
    assert (heard.listened_s >= 1.0).all()  # the server's own count reached the 1 s minimum on every answered trial
    assert (events.kind == "play").sum() >= total
    assert study.participant(pid)["completion_code"] == "C0DE1234"


def test_a_failed_sound_check_ends_at_the_screen_out_link(study_dir):
    cfg = StudyConfig.load(study_dir)
    with serve(study_dir) as url, browser() as b:
        page = b.new_page()
        page.set_default_timeout(20000)
        consent_and_screen(page, url, "e2e-screened-out", cfg, passing=False)
        page.get_by_text("Your screen-out code: SCR33N").wait_for()
        link = page.get_by_role("link", name="Return to Prolific")
        assert link.get_attribute("href") == "https://app.prolific.com/submissions/complete?cc=SCR33N"
        page.goto(page.url)  # coming back changes nothing: still the screen-out page, never a trial
        page.get_by_text("Your screen-out code: SCR33N").wait_for()
    assert StudyStore(study_dir).participant("e2e-screened-out")["slot"] is None


def test_a_second_browser_with_the_same_id_is_refused(study_dir):
    cfg = StudyConfig.load(study_dir)
    with serve(study_dir) as url, browser() as b:
        first = at_first_question(b, url, "e2e-shared-id", cfg)
        other = b.new_context().new_page()  # another browser: no key in its URL or its storage
        other.set_default_timeout(20000)
        other.goto(f"{url}/?PROLIFIC_PID=e2e-shared-id")
        other.get_by_text("This study is open in another browser").wait_for()
        assert other.get_by_role("button", name="Submit answer").count() == 0
        same = first.context.new_page()  # the first browser reopening the bare Prolific link finds its key
        same.set_default_timeout(20000)
        same.goto(f"{url}/?PROLIFIC_PID=e2e-shared-id")
        same.get_by_text("How it works").wait_for()  # a new session: the instructions again, then question 1
        same.get_by_role("button", name="Start").click()
        same.get_by_text("Question 1 of").wait_for()
    events = StudyStore(study_dir).events_frame()
    assert (events.kind == "browser_mismatch").sum() == 1


def test_admin_page_in_the_browser_needs_the_token(study_dir):
    """A wrong token shows no download; the right one gives the guarded CSV, whose address dies after the download
    lifetime (3 s here, 60 s by default) for anyone who copied it."""
    import time
    import urllib.error
    import urllib.request

    with serve(study_dir, {"EVALKIT_ADMIN_TOKEN": "s3cret", "EVALKIT_DOWNLOAD_TTL_S": "3"}) as url, browser() as b:
        page = b.new_page()
        page.set_default_timeout(20000)
        page.goto(f"{url}/admin?token=wrong")
        page.get_by_text("Wrong token").wait_for()
        assert page.get_by_role("button", name="Download answers (CSV)").count() == 0
        page.goto(f"{url}/admin?token=s3cret")
        page.get_by_role("button", name="Download answers (CSV)").wait_for()
        settle(page)  # the page reruns once the token leaves the address bar: a click during that rerun is lost
        with page.expect_download() as got:
            page.get_by_role("button", name="Download answers (CSV)").click()
        download = got.value
        assert open(download.path(), encoding="utf-8").readline().startswith("# evalkit")  # the guarded CSV's header
        link = download.url
        page.close()
        time.sleep(3.5)
        with pytest.raises(urllib.error.HTTPError) as gone:
            urllib.request.urlopen(link, timeout=5)
        assert gone.value.code == 404


def test_two_app_processes_share_one_postgresql_study(analytic_run, tmp_path, pg_url):
    """Two `streamlit` servers on one PostgreSQL study; participants alternate between them, reload,
    and double-click submit: exactly one row per answered trial, nobody sees another's trials."""
    from evalkit.study.design import create_study

    study_dir = tmp_path / "pgstudy"
    create_study(analytic_run, study_dir, ratings=2, trials_per_participant=3, gold_per_participant=0, max_items=2,
                 headphone_check=False, listen_min_s=None, store_url=pg_url, show_progress=False)
    study = StudyStore(study_dir)
    pids = [f"pg-participant-{k}" for k in range(4)]
    with serve(study_dir) as url_a, serve(study_dir) as url_b, browser() as b:
        pages = []
        for k, pid in enumerate(pids):
            page = b.new_page()
            page.set_default_timeout(30000)
            consent_and_screen(page, (url_a, url_b)[k % 2], pid, None)
            page.get_by_role("button", name="Start").click()
            pages.append(page)
        totals = {pid: study.next_trial(pid)[2] for pid in pids}
        for step in range(max(totals.values())):
            for k, (pid, page) in enumerate(zip(pids, pages, strict=True)):
                if step >= totals[pid]:
                    continue
                page.get_by_text(f"Question {step + 1} of {totals[pid]}").wait_for()
                if step == 1:
                    page.goto(page.url.replace(*((url_a, url_b) if k % 2 == 0 else (url_b, url_a))))  # reload on the *other* server
                    page.get_by_text(f"Question {step + 1} of {totals[pid]}").wait_for()
                answer(page, "Advice A", double=True)  # a double submit
        for page in pages:
            page.get_by_text("Your completion code").wait_for()
    prefs = [p for p in study.store.preferences(study.study_id) if p.criterion == "helpfulness"]
    assert len(prefs) == sum(totals.values()) == len({(p.participant_id, p.trial_id) for p in prefs})
    for pid in pids:
        own = {t.trial_id for t in study.trials(pid)}
        assert {p.trial_id for p in prefs if p.participant_id == pid} == own
