"""Page logic through Streamlit's AppTest (the real app script, no browser)."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from evalkit.study.store import StudyStore

APP = str(Path(__file__).resolve().parents[2] / "study_app" / "app.py")


@pytest.fixture
def app(study_dir, monkeypatch):
    monkeypatch.setenv("EVALKIT_STUDY_DIR", str(study_dir))
    monkeypatch.setenv("EVALKIT_ADMIN_TOKEN", "s3cret")

    def make(**params):
        at = AppTest.from_file(APP, default_timeout=30)
        for k, v in params.items():
            at.query_params[k] = v
        at.run()
        return at
    yield make
    from common import get_study  # the cached StudyStore belongs to this test's study

    get_study.clear()


def _texts(at):
    return " ".join(str(e.value) for e in [*at.markdown, *at.error, *at.warning, *at.success, *at.info, *at.title])


def test_missing_or_bad_participant_id(app):
    assert "participant id missing or malformed" in _texts(app())
    assert "participant id missing or malformed" in _texts(app(PROLIFIC_PID="../etc"))


def test_full_flow_with_headphone_check_resume_and_code(app, study_dir):
    cfg = json.loads((study_dir / "study.json").read_text())
    at = app(PROLIFIC_PID="p1", STUDY_ID="s", SESSION_ID="x")
    at.button[0].click().run()  # submit without ticking
    assert "tick the box" in _texts(at)
    at.checkbox[0].check()
    at.button[0].click().run()
    assert "Sound check" in _texts(at)
    for k, ans in enumerate(cfg["headphone_answers"]):
        at.radio(key=f"hc{k}").set_value(ans)
    at.button[0].click().run()
    assert StudyStore(study_dir).participant("p1")["headphone_passed"] is True
    assert "How it works" in _texts(at)
    at.button[0].click().run()
    total = StudyStore(study_dir).next_trial("p1")[2]
    for k in range(total):
        if k == 2:  # a reload mid-study: a fresh session resumes at the next unanswered question
            at = app(PROLIFIC_PID="p1")
            assert f"Question {k + 1} of {total}" in " ".join(p.proto.text for p in at.get("progress"))
        at.radio[0].set_value("Advice A")
        at.button[0].click().run()
    assert "C0DE1234" in _texts(at)
    assert len(StudyStore(study_dir).answered("p1")) == total


def test_headphone_failure_screens_out(app, study_dir):
    cfg = json.loads((study_dir / "study.json").read_text())
    at = app(PROLIFIC_PID="p2")
    at.checkbox[0].check()
    at.button[0].click().run()
    for k, ans in enumerate(cfg["headphone_answers"]):
        at.radio(key=f"hc{k}").set_value(ans % 3 + 1)  # always wrong
    at.button[0].click().run()
    assert "needs headphones" in _texts(at)
    assert StudyStore(study_dir).participant("p2")["headphone_passed"] is False


def test_choice_is_required(app, study_dir):
    study = StudyStore(study_dir)
    study.participant("p3")
    study.update_participant("p3", consented_at="now", headphone_passed=True)
    at = app(PROLIFIC_PID="p3")
    at.button[0].click().run()  # instructions -> first trial
    at.button[0].click().run()  # submit with no choice
    assert "Please choose" in _texts(at) and not study.answered("p3")


def _admin(study_dir, monkeypatch, token_env="s3cret", **params):
    """The real admin page, rendered on its own (st.navigation pages are callables, not files)."""
    monkeypatch.setenv("EVALKIT_STUDY_DIR", str(study_dir))
    if token_env is None:
        monkeypatch.delenv("EVALKIT_ADMIN_TOKEN", raising=False)
    else:
        monkeypatch.setenv("EVALKIT_ADMIN_TOKEN", token_env)
    app_dir = str(Path(APP).parent)
    at = AppTest.from_string(f"import sys\nsys.path.insert(0, {app_dir!r})\nimport admin_page\nadmin_page.render()\n",
                             default_timeout=30)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    from common import get_study

    get_study.clear()
    return at


def test_admin_refuses_without_the_token(study_dir, monkeypatch):
    at = _admin(study_dir, monkeypatch)
    assert not at.get("download_button") and not at.metric
    at = _admin(study_dir, monkeypatch, token="wrong")
    assert "Wrong token" in _texts(at) and not at.get("download_button")
    at = _admin(study_dir, monkeypatch, token_env=None, token="anything")
    assert "Admin is disabled" in _texts(at) and not at.get("download_button")


def test_admin_with_the_token_shows_progress_and_export(study_dir, monkeypatch):
    from evalkit.study.simulate import simulate

    simulate(study_dir, participants=3, seed=0)
    at = _admin(study_dir, monkeypatch, token="s3cret")
    assert [m.value for m in at.metric][0] == "3"
    assert at.get("download_button")
