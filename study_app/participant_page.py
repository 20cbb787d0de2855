"""The participant's flow: consent → headphone check → instructions → trials → completion code.

Where a participant is comes from the database on every run, never from widget state, so a reload,
a reconnect or a closed tab resumes exactly where they were.
"""

from __future__ import annotations

import streamlit as st
from common import audio, get_study

from evalkit.errors import EvalkitInputError
from evalkit.records import utc_now
from evalkit.study.headphone import TRIALS, passed
from evalkit.study.store import valid_participant_id

CHOICES = {"Advice A": "A", "Advice B": "B", "No preference": "tie"}


def consent(study, pid: str) -> None:
    st.title("Which mixing advice would you follow?")
    st.write("In this study you will listen to short music mixes whose balance is off, and read two pieces of advice "
             "on how to fix them. You will say which advice you would rather follow. It takes about 10–15 minutes. "
             "Your answers are stored under your Prolific ID only; you may stop at any time.")
    with st.form("consent"):
        agreed = st.checkbox("I am 18 or older, I have read the information above, and I agree to take part.")
        if st.form_submit_button("Continue"):
            if not agreed:
                st.warning("Please tick the box to give your consent, or close this tab to leave the study.")
            else:
                study.update_participant(pid, consented_at=utc_now())
                st.rerun()


def headphone_check(study, pid: str) -> None:
    st.title("Sound check")
    st.write("Put on headphones. Each clip plays three tones: pick the **quietest** one.")
    with st.form("headphones"):
        responses = []
        for k in range(TRIALS):
            audio(study, f"stimuli/headphone/trial_{k}.wav", f"Clip {k + 1}")
            responses.append(st.radio(f"Quietest tone in clip {k + 1}", [1, 2, 3], index=None, horizontal=True, key=f"hc{k}"))
        if st.form_submit_button("Continue"):
            if any(r is None for r in responses):
                st.warning("Please answer every clip.")
            else:
                study.update_participant(pid, headphone_passed=passed(responses, study.config["headphone_answers"]))
                st.rerun()


def instructions() -> None:
    st.title("How it works")
    st.write("On each page you hear a mix whose instruments (drums, bass, other instruments, vocals) are out of balance. "
             "Below it are two pieces of advice from different assistants. Choose the advice you would rather follow to fix "
             "the balance, or *No preference* if they are equally good or bad.")
    st.info("**Example.** Advice A: *Raise the vocals by 3 dB; they are buried.* Advice B: *Make it sound better.* "
            "If the vocals are indeed too quiet, A is the advice to follow.")
    if st.button("Start"):
        st.session_state["started"] = True
        st.rerun()


def trial_page(study, pid: str, trial, done: int, total: int) -> None:
    st.progress(done / total, text=f"Question {done + 1} of {total}")
    audio(study, trial.mix_audio, "The mix")
    for stem, rel in trial.stems_audio.items():
        audio(study, rel, f"Stem: {stem}")
    started = st.session_state.setdefault(f"started-{trial.trial_id}", utc_now())
    left, right = st.columns(2)
    for col, label, side in ((left, "Advice A", trial.left), (right, "Advice B", trial.right)):
        with col:
            st.subheader(label)
            st.write(side["text"])
            if side.get("after_audio"):
                audio(study, side["after_audio"], f"The mix after following {label}")
    with st.form(f"trial-{trial.trial_id}"):
        choice = st.radio("Which advice would you rather follow?", list(CHOICES), index=None, horizontal=True)
        strength = st.select_slider("How sure are you?", options=[1, 2, 3, 4, 5], value=3)
        comment = st.text_input("Comment (optional)", max_chars=500)
        if st.form_submit_button("Submit answer"):
            if choice is None:
                st.warning("Please choose Advice A, Advice B or No preference.")
            else:
                study.save_answer(pid, trial.trial_id, CHOICES[choice], strength=strength, comment=comment, started_at=started)
                st.rerun()


def done_page(study, pid: str) -> None:
    code = study.complete(pid)
    st.title("Thank you!")
    st.success(f"Your completion code: {code}")
    url = study.config.get("completion_url")
    if url:
        target = url if "cc=" in url else f"{url}{'&' if '?' in url else '?'}cc={code}"
        st.link_button("Return to Prolific", target)


def render() -> None:
    study = get_study()
    qp = st.query_params
    try:
        pid = valid_participant_id(qp.get("PROLIFIC_PID") or qp.get("pid"))
    except EvalkitInputError as exc:
        st.error(str(exc))
        st.stop()
    expected = study.config.get("prolific_study_id")
    if expected and qp.get("STUDY_ID") not in (None, expected):
        st.error("This link belongs to another study (STUDY_ID does not match). Please use the link from Prolific.")
        st.stop()
    p = study.participant(pid, session_id=qp.get("SESSION_ID"))
    if not p["consented_at"]:
        return consent(study, pid)
    if study.config.get("headphone_check") and p["headphone_passed"] is None:
        return headphone_check(study, pid)
    if p["headphone_passed"] is False:
        st.error("Thank you for your time. This study needs headphones, so it ends here.")
        st.stop()
    trial, done, total = study.next_trial(pid)
    if trial is None:
        return done_page(study, pid)
    if done == 0 and not st.session_state.get("started"):
        return instructions()
    trial_page(study, pid, trial, done, total)
