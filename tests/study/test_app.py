"""Page logic through Streamlit's AppTest (the real app script, no browser)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from evalkit.study.config import StudyConfig
from evalkit.study.headphone import TRIALS, participant_clips
from evalkit.study.study_store import StudyStore

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
    shown = [str(e.value) for e in [*at.markdown, *at.error, *at.warning, *at.success, *at.info, *at.title]]
    return " ".join(shown + [e.proto.text for e in at.get("progress")])  # "Answer N saved." rides on the progress line


def test_missing_or_bad_participant_id(app):
    assert "participant id missing or malformed" in _texts(app())
    assert "participant id missing or malformed" in _texts(app(PROLIFIC_PID="../etc"))


def _consent_and_screen(app, study_dir, pid, *, pass_check=True, **params):
    at = app(PROLIFIC_PID=pid, **params)
    at.checkbox[0].check()
    at.button[0].click().run()
    clips = participant_clips(StudyConfig.load(study_dir), pid)[:TRIALS]
    for k, clip in enumerate(clips):
        at.radio(key=f"hc{k}").set_value(clip["answer"] if pass_check else clip["answer"] % 3 + 1)
    at.button[0].click().run()
    return at


def _answer(at, spec="Advice A", follow="Advice B", confidence=4):
    at.radio[0].set_value(spec)
    at.radio[1].set_value(follow)
    at.radio[2].set_value(confidence)
    at.button[0].click().run()


def test_full_flow_with_headphone_check_resume_and_code(app, study_dir):
    at = app(PROLIFIC_PID="p1", STUDY_ID="s", SESSION_ID="x")
    at.button[0].click().run()  # submit without ticking
    assert "tick the box" in _texts(at)
    at = _consent_and_screen(app, study_dir, "p1")
    key = at.query_params["k"]  # the browser key the page keeps after consent
    study = StudyStore(study_dir)
    assert study.participant("p1")["headphone_passed"] is True and study.participant("p1")["slot"] is not None
    assert "How it works" in _texts(at)
    at.button[0].click().run()
    total = study.next_trial("p1")[2]
    for k in range(total):
        if k == 2:  # a reload mid-study (same browser: same key) resumes at the next unanswered question
            at = app(PROLIFIC_PID="p1", k=key)
            assert f"Question {k + 1} of {total}" in " ".join(p.proto.text for p in at.get("progress"))
            assert "Answer 2 saved." not in _texts(at)  # the note is for the submit that made it, not a reload
        _answer(at)
        if k + 1 < total:
            assert f"Answer {k + 1} saved." in _texts(at)
    assert "C0DE1234" in _texts(at)
    answers = study.answers_frame()
    assert len(study.answered("p1")) == total and len(answers) == 2 * total  # two questions per trial
    assert set(answers.criterion) == {"specificity", "helpfulness"} and set(answers.confidence) == {4}


def test_headphone_failure_screens_out_with_a_code_never_a_dead_end(app, study_dir):
    at = _consent_and_screen(app, study_dir, "p2", pass_check=False)
    text = _texts(at)
    assert "needs headphones" in text and "SCR33N" in text
    assert [b.proto.url for b in at.get("link_button")] == ["https://app.prolific.com/submissions/complete?cc=SCR33N"]
    # the page refers to the information page: it is there, with the consent text (researcher, contact)
    info = [e for e in at.expander if e.label.startswith("Information about this study")]
    assert len(info) == 1 and "contact" in " ".join(m.value for m in info[0].markdown).lower()
    p = StudyStore(study_dir).participant("p2")
    assert p["headphone_passed"] is False and p["slot"] is None  # a screened-out person never holds a slot


def test_answers_are_required(app, study_dir):
    at = _consent_and_screen(app, study_dir, "p3")
    at.button[0].click().run()  # instructions -> first trial
    at.radio[0].set_value("Advice A")
    at.button[0].click().run()  # one question unanswered, no confidence
    assert "Please answer every question" in _texts(at) and not StudyStore(study_dir).answered("p3")
    assert at.radio[2].value is None  # confidence has no default


def test_another_browser_with_the_same_id_is_refused_and_logged(app, study_dir):
    _consent_and_screen(app, study_dir, "p4")
    at = app(PROLIFIC_PID="p4", k="a-key-from-somewhere-else")
    assert "open in another browser" in _texts(at) and not at.radio
    events = StudyStore(study_dir).events_frame()
    assert (events[events.participant_id == "p4"].kind == "browser_mismatch").sum() == 1


def test_leaving_releases_the_slot_and_ends_politely(app, study_dir):
    at = _consent_and_screen(app, study_dir, "p5")
    study = StudyStore(study_dir)
    slot = study.participant("p5")["slot"]
    at.button[0].click().run()
    assert at.button(key="leave").disabled  # one stray click cannot end someone's study
    at.checkbox(key="leave-sure").check().run()
    at.button(key="leave").click().run()
    assert "You have left the study" in _texts(at)
    study.open("p6")
    study.consent("p6")
    study.screen("p6", [c["answer"] for c in participant_clips(study.config, "p6")])
    assert study.claim_slot("p6") == slot  # the freed slot goes to the next person


def test_a_link_for_another_study_is_refused(study_dir, monkeypatch):
    cfg = StudyConfig.load(study_dir)
    cfg.model_copy(update={"prolific_study_id": "S-MAIN"}).save(study_dir)
    monkeypatch.setenv("EVALKIT_STUDY_DIR", str(study_dir))
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["PROLIFIC_PID"] = "p7"
    at.query_params["STUDY_ID"] = "S-PILOT"
    at.run()
    from common import get_study

    get_study.clear()
    assert "belongs to another study" in _texts(at) and StudyStore(study_dir).participant("p7") is None


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
    assert "EXAMPLE consent" in _texts(at)  # the study was made without --consent
    flow, coverage = at.dataframe[0].value, at.dataframe[1].value
    assert list(flow.step) == ["opened the link", "consented", "passed screening", "completed", "passed gold trials", "included"]
    assert flow.simulated.iloc[0] == 3 and flow.participants.sum() == 0
    assert len(coverage) == 10 and {"planned_ratings", "ratings", "participants"} <= set(coverage.columns)  # C(5, 2) pairs


def test_the_page_asks_exactly_the_declared_questions(app, study_dir):
    """Issue #26: the questions are declared once (evalkit/study/questions.py); the page's radio groups are those
    questions in that order, then confidence; the store takes an answer to each and refuses another criterion."""
    import pytest

    from evalkit.errors import EvalkitInputError
    from evalkit.study.questions import QUESTIONS

    at = _consent_and_screen(app, study_dir, "p-questions")
    at.button[0].click().run()  # instructions -> first trial
    assert [r.label for r in at.radio] == [q.text for q in QUESTIONS] + ["How sure are you?"]
    study = StudyStore(study_dir)
    trial = study.next_trial("p-questions")[0]
    with pytest.raises(EvalkitInputError, match="give A, B or tie for each of"):
        study.save_answer("p-questions", trial.trial_id, {"loudness": "A", "helpfulness": "B"}, confidence=3)


def test_a_question_from_another_package_is_asked_saved_and_exported(app, study_dir, monkeypatch):
    """The study-question registry's recipe end to end with a toy question (listed under the evalkit.study_questions
    entry points): the page asks it after the built-in ones, an answer must include it, and it is stored as its own
    criterion row beside them."""
    import importlib.metadata

    from evalkit.study import questions

    toy = questions.Question("loudness", "Which advice keeps the mix's loudness steadier?")
    ep = importlib.metadata.EntryPoint(name="loudness", value="toy:QUESTION", group=questions.ENTRY_POINT_GROUP)
    monkeypatch.setattr(ep.__class__, "load", lambda self: toy)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None, **kw: [ep] if group == questions.ENTRY_POINT_GROUP else [])
    questions._plugins.cache_clear()
    try:
        at = _consent_and_screen(app, study_dir, "p-toy")
        at.button[0].click().run()  # instructions -> first trial
        assert [r.label for r in at.radio] == [q.text for q in questions.BUILT_IN] + [toy.text, "How sure are you?"]
        trial = StudyStore(study_dir).next_trial("p-toy")[0]
        at.radio[0].set_value("Advice A")
        at.radio[1].set_value("Advice B")
        at.radio[3].set_value(4)
        at.button[0].click().run()  # the built-in questions only: refused on the page, nothing saved
        assert "Please answer every question" in _texts(at) and not StudyStore(study_dir).answered("p-toy")
        at.radio[2].set_value("No difference")
        at.button[0].click().run()
        rows = {p.criterion: p.choice for p in StudyStore(study_dir).rows.answers() if p.trial_id == trial.trial_id}
        assert rows == {"specificity": "a", "helpfulness": "b", "loudness": "tie"}
    finally:
        questions._plugins.cache_clear()
