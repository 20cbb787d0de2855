"""The participant's flow: consent → headphone check → instructions → trials → completion code, with
a screen-out page and a way to leave at every step (never a dead end).

Where a participant is comes from the database on every run, never from widget state, so a reload,
a reconnect or a closed tab resumes exactly where they were. After consent the participant is bound
to their browser (a random key in the URL and in localStorage); the same ID in another browser
gets a page that says so, and the attempt is logged.
"""

from __future__ import annotations

import html

import streamlit as st
from browser_side import listening, page_helper
from common import audio, get_study, prolific_link

from evalkit.errors import EvalkitInputError
from evalkit.records import utc_now
from evalkit.study.headphone import TRIALS, participant_clips
from evalkit.study.questions import study_questions
from evalkit.study.study_store import valid_participant_id, valid_token

CHOICES = {"Advice A": "A", "Advice B": "B", "No difference": "tie"}
CONFIDENCE = {1: "1 · guessing", 2: "2 · unsure", 3: "3 · fairly sure", 4: "4 · sure", 5: "5 · certain"}


def _consent_text(study) -> str:
    return (study.dir / study.config.consent_file).read_text(encoding="utf-8")


def information(study) -> None:
    """The information page (researcher, contact, withdrawal), reachable from every end page that refers to it."""
    with st.expander("Information about this study: the researcher and how to contact them"):
        st.markdown(_consent_text(study))


def consent(study, pid: str) -> None:
    st.markdown(_consent_text(study))
    with st.form("consent"):
        agreed = st.checkbox("I am 18 or older, I have read the information above, and I agree to take part.")
        if st.form_submit_button("Continue"):
            if not agreed:
                st.warning("Please tick the box to give your consent, or close this tab and return the study to leave.")
            else:
                key = study.consent(pid)
                if key:  # None: another browser consented first, and the next run says so
                    st.query_params["k"] = key
                st.rerun()


def other_browser(study, pid: str) -> None:
    qp = st.query_params
    if "k" not in qp and not page_helper(_storage_key(study, pid), restore=True):
        st.caption("Checking this browser…")  # the browser looks for its key; it reloads with it, or reports none
        st.stop()
    study.log(pid, "browser_mismatch", {"session_id": qp.get("SESSION_ID"), "had_key": "k" in qp})
    st.title("This study is open in another browser")
    st.error("You started this study in a different browser (or a private window). To protect your answers, please "
             "continue in the browser where you gave consent. If you cannot, contact the researcher named on the "
             "information page; nothing you have answered is lost.")
    information(study)
    st.stop()


SOUND_CHECK = "soundcheck"  # the trial id the sound check's player events are logged under
WHOLE_CLIP_S = 60.0  # asked of each sound-check clip: longer than the clip, so nearly all of it must be heard


def headphone_check(study, pid: str) -> None:
    st.title("Sound check")
    st.write("Put on headphones. Each clip plays three tones: pick the **quietest** one.")
    clips = participant_clips(study.config, pid)[:TRIALS]
    names = {f"c{k}": clip["file"] for k, clip in enumerate(clips)}
    unheard = _sound_check_unheard(study, pid, names)
    if unheard:
        st.info("Play each clip to the end (▶); its question unlocks when you have heard it.")
    with st.form("headphones"):
        responses = []
        for k, clip in enumerate(clips):  # each participant's own clip addresses and order: a posted key is of no use
            with st.container(key=f"hc-c{k}"):
                audio(study, clip["file"], f"Clip {k + 1}", participant=pid)
            responses.append(st.radio(f"Quietest tone in clip {k + 1}", [1, 2, 3], index=None, horizontal=True, key=f"hc{k}",
                                      disabled=f"c{k}" in unheard))
        if st.form_submit_button("Continue", disabled=bool(unheard)):
            if unheard:  # a submit the disabled form cannot send: forged, refused and logged
                study.log(pid, "ungated_screen", {"unheard": sorted(unheard)}, trial_id=SOUND_CHECK)
                st.warning("Play every clip first: each question unlocks when its clip has been heard.")
            elif any(r is None for r in responses):
                st.warning("Please answer every clip.")
            else:
                study.screen(pid, responses)
                st.rerun()


def _sound_check_unheard(study, pid: str, names: dict[str, str]) -> set[str]:
    """The sound-check clips not yet heard (nearly) to their end, by the server's count, as for a trial's clips. A
    study without a listening minimum does not gate the sound check either."""
    if not study.config.listen_min_s:
        return set()
    study.shown(pid, SOUND_CHECK)
    events = listening(SOUND_CHECK, "hc", list(names), WHOLE_CLIP_S)
    if events:
        study.log_plays(pid, SOUND_CHECK, events)
    return set(names) - study.heard(pid, SOUND_CHECK, names, min_s=WHOLE_CLIP_S)


def screened_out(study) -> None:
    st.title("Thank you for your time")
    st.info("This study needs headphones, and the sound check suggests they were not in use, so the study ends here. "
            "This is not a judgement of your hearing.")
    code, url = study.config.screenout_code, study.config.screenout_url
    if code:
        st.success(f"Your screen-out code: {code}")
    if url or code:
        st.link_button("Return to Prolific", prolific_link(url, code))
    else:
        st.write("Please return the study on Prolific (*Stop without completing*); you will not be penalised.")
    information(study)


def left_study(study) -> None:
    st.title("You have left the study")
    st.write("Thank you. Your slot goes to the next participant. Please return the study on Prolific "
             "(*Stop without completing*). To have the answers you gave deleted, write to the contact on the information page.")
    if study.config.completion_url:
        st.link_button("Back to Prolific", study.config.completion_url.split("?")[0])
    information(study)


def instructions(study, pid: str) -> None:
    min_s = study.config.listen_min_s
    st.title("How it works")
    st.markdown(
        "Each question shows a short **mix** of four instruments (drums, bass, other instruments, vocals). Most mixes are out "
        "of balance; some are already balanced, and then the best advice may be to change little or nothing. Under the mix "
        "are two pieces of advice, **Advice A** and **Advice B**, from different assistants. On every question:\n\n"
        f"1. **Play the mix** with the ▶ button{f' (at least {min_s:g} seconds; the questions unlock when you have)' if min_s else ''}."
        + (" Play the *after* clip under each advice too: it is the mix after following that advice." if study.config.after_audio else "")
        + "\n2. **Which advice is more specific?** Pick A, B, or *No difference*. Specific advice says which instrument to change "
        "and by how much.\n3. **Which advice would you rather follow?** Pick the one you would act on to fix this mix.\n"
        "4. **How sure are you?** From *1 · guessing* to *5 · certain*.\n5. **Comment** (optional): anything that helped you decide.\n"
        "6. Press **Submit answer**. Your answer is saved at once and the next question appears.\n\n"
        "You can leave at any time with **Leave the study** at the bottom of the page.")
    st.info("**Example.** Advice A: *Raise the vocals by 3 dB; they are buried.* Advice B: *Make it sound better.* "
            "A is more specific; if the vocals are indeed too quiet, A is also the advice to follow.")
    if st.button("Start"):
        st.session_state["started"] = True
        st.rerun()
    leave_button(study, pid)


def _clip(study, trial, name: str, rel: str, label: str) -> None:
    with st.container(key=f"clip-{trial.trial_id}-{name}"):
        audio(study, rel, label)


def _missing_clips(study, pid: str, trial) -> set[str]:
    """The required clips the server has not yet credited as heard for the study's minimum (none without one)."""
    if not study.config.listen_min_s:
        return set()
    return set(trial.required_clips) - study.listened(pid, trial.trial_id)


def _locked(study, pid: str, trial) -> bool:
    """Answers unlock once every required clip was played for the study's minimum; plays are logged."""
    min_s = study.config.listen_min_s
    if not min_s:
        return False
    events = listening(trial.trial_id, f"clip-{trial.trial_id}", list(trial.required_clips), float(min_s))
    if events:
        study.log_plays(pid, trial.trial_id, events)
    missing = _missing_clips(study, pid, trial)
    if missing:
        names = " and ".join("the mix" if m == "mix" else f"the after clip of Advice {m[-1].upper()}" for m in sorted(missing))
        st.info(f"Play {names} (at least {float(min_s):g} s) to unlock the questions.")
    return bool(missing)


ADVICE_STYLE = ("white-space: pre-wrap; overflow-wrap: anywhere; font: 1rem/1.5 'Source Sans', 'Source Sans Pro', sans-serif; "
                "padding: 0.5rem 0.75rem; border-left: 3px solid #bbb; background: #fafafa")
# Two columns side by side, one under the other on a narrow screen; inline styles only (a <style> element would
# make the browser restyle the whole page on every question).
PAIR_STYLE = "display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem"
HEADING_STYLE = "font: 600 1.5rem/1.2 'Source Sans', 'Source Sans Pro', sans-serif; margin: 0 0 0.5rem; padding: 0"


def advice_cell(label: str, text: str) -> str:
    """One advice exactly as written, as plain text in one fixed style: no Markdown, no HTML, nothing that can load a
    resource (an image is a tracking pixel; a heading or an emoji makes one advice look different from the other)."""
    return f'<div><h3 style="{HEADING_STYLE}">{label}</h3><div class="evalkit-advice" style="{ADVICE_STYLE}">{html.escape(text)}</div></div>'


def advice_pair(study, trial) -> None:
    """Both pieces of advice in one element (two subheaders, two texts and their columns were seven for the browser
    to draw on every question: benchmarks/study_browser.py), then each advice's after clip under it when the study
    plays them."""
    cells = "".join(advice_cell(label, side["text"]) for label, side in (("Advice A", trial.left), ("Advice B", trial.right)))
    st.html(f'<div class="evalkit-pair" style="{PAIR_STYLE}">{cells}</div>')
    if trial.left.get("after_audio") or trial.right.get("after_audio"):
        for col, label, side, name in zip(st.columns(2), ("Advice A", "Advice B"), (trial.left, trial.right), ("after_a", "after_b"),
                                          strict=True):
            with col:
                if side.get("after_audio"):
                    _clip(study, trial, name, side["after_audio"], f"The mix after following {label}")


def trial_page(study, pid: str, trial, done: int, total: int, submit_handled: bool = False) -> None:
    """One question. ``submit_handled``: this run already took the form's answer (`answer_first`)."""
    started = st.session_state.setdefault(f"started-{trial.trial_id}", utc_now())
    note = st.session_state.get("saved_note")
    note = note if note and note[0] == done else None  # shown on every run of this question, gone on the next
    if note and len(note) > 2 and note[2] == "stale":
        st.warning(note[1])
    # "Answer N saved." rides on the progress line: one element fewer for the browser to draw on every question
    st.progress(done / total, text=f"Question {done + 1} of {total}" + (f" · {note[1]}" if note and len(note) == 2 else ""))
    if study.config.listen_min_s:
        study.shown(pid, trial.trial_id)
    with st.container():  # unkeyed: the browser updates one question's elements into the next (a key per question remounted them all)
        players = st.container()  # drawn here, filled last (below)
        advice_pair(study, trial)
        locked = _locked(study, pid, trial)
        shown = st.session_state.get("form_trial")  # the question this form was last drawn for
        tid = trial.trial_id  # each question's form and widgets are its own: the next one starts empty
        with st.form(f"answer-form-{tid}"):
            picks = {q.criterion: st.radio(q.text, list(CHOICES), index=None, horizontal=True, disabled=locked,
                                           key=f"pick-{q.criterion}-{tid}") for q in study_questions()}
            confidence = st.radio("How sure are you?", list(CONFIDENCE), format_func=CONFIDENCE.get, index=None, horizontal=True,
                                  disabled=locked, key=f"pick-confidence-{tid}")
            comment = st.text_area("Comment (optional)", max_chars=500, disabled=locked, key=f"pick-comment-{tid}")
            submitted = st.form_submit_button("Submit answer", disabled=locked, key=f"submit-{tid}")
        st.session_state["form_trial"] = tid
        with players:  # sent last: the browser draws the question at once, and each player as its audio arrives
            _clip(study, trial, "mix", trial.mix_audio, "The mix")
            for stem, rel in trial.stems_audio.items():
                audio(study, rel, f"Stem: {stem}")
        if submitted and locked:  # a submit the disabled form cannot send: forged, and refused
            study.log(pid, "ungated_submit", {"trial_id": tid}, trial_id=tid)
            st.warning("Play the clips first: the questions unlock when you have listened.")
        elif submitted and not submit_handled:  # unlocked by this very run's listening events
            if _submit(study, pid, shown or tid, trial, done, picks, confidence, comment, started):
                st.rerun(scope="app")


def form_keys(trial_id: str) -> list[str]:
    return [f"pick-{q.criterion}-{trial_id}" for q in study_questions()] + [f"pick-confidence-{trial_id}", f"pick-comment-{trial_id}"]


def answer_first(study, pid: str, trial, done: int) -> tuple[bool, bool]:
    """A Submit on an unlocked question is saved before anything is drawn, and the next question is drawn in the
    same run: drawing the answered question again, then rerunning to replace it, was most of the server's work of a
    submit (benchmarks/study_browser.py). Returns (took the submit, moved on). A submit while the server still
    counts a clip as unheard is left to the page, which refuses it."""
    shown = st.session_state.get("form_trial")  # the question the submitted form was drawn for
    if not shown or not st.session_state.get(f"submit-{shown}"):
        return False, False
    if shown == trial.trial_id and _missing_clips(study, pid, trial):  # (a stale tab's answer is never saved: no gate)
        return False, False
    state = st.session_state
    picks = {q.criterion: state.get(f"pick-{q.criterion}-{shown}") for q in study_questions()}
    started = state.setdefault(f"started-{trial.trial_id}", utc_now())
    return True, _submit(study, pid, shown, trial, done, picks, state.get(f"pick-confidence-{shown}"),
                         state.get(f"pick-comment-{shown}") or "", started)


def _submit(study, pid: str, answered: str, trial, done: int, picks: dict, confidence, comment: str, started: str) -> bool:
    """Save the answer to the question the form was drawn for. When the page moved on under it (another window of
    this participant answered that question first), nothing is saved and the participant is told so: an answer is
    never dropped silently. A double submit of the same answer is just 'saved'. Returns whether the page moves on
    (False: an answer is missing, and the question stays with a warning)."""
    if any(v is None for v in picks.values()) or confidence is None:
        st.warning("Please answer every question and say how sure you are.")
        return False
    choices = {c: CHOICES[v] for c, v in picks.items()}
    if answered == trial.trial_id and study.save_answer(pid, trial.trial_id, choices, confidence=confidence, comment=comment,
                                                        started_at=started):
        st.session_state["saved_note"] = (done + 1, f"Answer {done + 1} saved.")
    elif study.answer_matches(pid, answered, choices, confidence):
        st.session_state["saved_note"] = (done + (answered == trial.trial_id), f"Answer {done} saved.")
    else:
        study.log(pid, "stale_tab_answer", {"choices": choices, "confidence": confidence}, trial_id=answered)
        st.session_state["saved_note"] = (done + (answered == trial.trial_id), "This question was already answered in another "
                                          "window, so the answer from this window was not saved. Here is the next question.",
                                          "stale")
    for key in form_keys(answered):  # its form is not drawn again
        st.session_state.pop(key, None)
    return True


def leave_button(study, pid: str) -> None:
    with st.expander("Leave the study"):
        st.write("You can stop at any time without giving a reason. Answers already given are kept unless you ask "
                 "the researcher to delete them.")
        sure = st.checkbox("Yes, I want to leave the study", key="leave-sure")
        if st.button("Leave the study now", key="leave", disabled=not sure):  # two steps: never left by one stray click
            study.withdraw(pid)
            st.rerun()


def done_page(study, pid: str) -> None:
    code = study.complete(pid)
    st.title("Thank you!")
    st.success(f"Your completion code: {code}")
    if study.config.completion_url:
        st.link_button("Return to Prolific", prolific_link(study.config.completion_url, code))


def _storage_key(study, pid: str) -> str:
    return f"evalkit:{study.study_id}:{pid}"


def render() -> None:
    study = get_study()
    qp = st.query_params
    try:
        pid = valid_participant_id(qp.get("PROLIFIC_PID"))
    except EvalkitInputError as exc:
        st.error(str(exc))
        st.stop()
    expected = study.config.prolific_study_id
    if expected and qp.get("STUDY_ID") != expected:
        st.error("This link belongs to another study (STUDY_ID does not match). Please open the study from its Prolific link.")
        st.stop()
    p = study.open(pid, session_id=valid_token(qp.get("SESSION_ID"), limit=64))
    if p["withdrawn_at"]:
        return left_study(study)
    if not p["consented_at"]:
        return consent(study, pid)
    if not study.browser_ok(pid, qp.get("k"), p):
        return other_browser(study, pid)
    if study.config.headphone_check and p["headphone_passed"] is None:
        return _kept(study, pid, headphone_check, study, pid)
    if p["headphone_passed"] is False:
        return screened_out(study)
    if p["slot"] is None:
        study.claim_slot(pid)
    trial, done, _ = study.next_trial(pid)
    if trial is None:
        return _kept(study, pid, done_page, study, pid)
    if done == 0 and not st.session_state.get("started"):
        return _kept(study, pid, instructions, study, pid)
    page_helper(_storage_key(study, pid), store_key=qp.get("k"), watch=True)  # outside the question: not redrawn with it
    question(study, pid)
    leave_button(study, pid)


@st.fragment
def question(study, pid: str) -> None:
    """The current question. A Submit, and a play the browser reports, rerun only this part of the page, so the
    browser redraws the question and nothing around it (benchmarks/study_browser.py). What a question cannot show
    (the end page after the last answer; a participant who left, or who is in the wrong browser) reruns the page."""
    p = study.participant(pid)  # a run of this part alone skips the page's own checks: make them again
    if p is None or p["withdrawn_at"] or not study.browser_ok(pid, st.query_params.get("k"), p):
        st.rerun(scope="app")
    trial, done, total = study.next_trial(pid)
    handled = False
    if trial is not None:
        handled, moved = answer_first(study, pid, trial, done)
        if moved:
            trial, done, total = study.next_trial(pid)
    if trial is None:
        st.rerun(scope="app")
    trial_page(study, pid, trial, done, total, submit_handled=handled)


def _kept(study, pid: str, page, *args) -> None:
    """Render a page of a bound participant, with the helper that keeps their browser key in localStorage."""
    page_helper(_storage_key(study, pid), store_key=st.query_params.get("k"))
    page(*args)
