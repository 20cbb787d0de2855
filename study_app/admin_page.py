"""Admin: the participant flow, coverage per system pair, progress and the CSV export, behind a token
from the environment (EVALKIT_ADMIN_TOKEN) or the study config. Without a configured token the page is off."""

from __future__ import annotations

import hmac
import os
import time

import streamlit as st
from common import get_study

from evalkit.study.outcomes import coverage_table, export_answers, flow_table, participant_status
from evalkit.study.study_store import valid_token

MAX_FAILURES, LOCKOUT_S = 5, 60
_failures: list[float] = []  # times of wrong tokens, for this server process


def _locked_out() -> bool:
    now = time.monotonic()
    _failures[:] = [t for t in _failures if now - t < LOCKOUT_S]
    return len(_failures) >= MAX_FAILURES


def _token_ok(given: str, expected: str) -> bool:
    """Constant-time comparison of ASCII tokens; after MAX_FAILURES wrong ones in LOCKOUT_S seconds every attempt
    fails until the window passes (a guesser gets five tries a minute)."""
    if _locked_out():
        return False
    token = valid_token(given)
    if token and hmac.compare_digest(token.encode(), str(expected).encode()):
        return True
    _failures.append(time.monotonic())
    return False


def render() -> None:
    study = get_study()
    expected = os.environ.get("EVALKIT_ADMIN_TOKEN") or study.config.admin_token
    st.title("Study admin")
    if not expected:
        st.error("Admin is disabled: set EVALKIT_ADMIN_TOKEN when starting the app.")
        st.stop()
    if "token" in st.query_params:  # a token in the URL is used once, then kept in the session, not in the address bar
        st.session_state["admin_token"] = st.query_params.pop("token")
    given = st.session_state.get("admin_token") or st.text_input("Admin token", type="password")
    if not given or not _token_ok(given, expected):
        st.session_state.pop("admin_token", None)
        if given:
            st.error("Wrong token." if not _locked_out() else f"Too many wrong tokens; try again in {LOCKOUT_S} s.")
        st.stop()
    if study.config.consent_is_example:
        st.warning("This study shows the bundled EXAMPLE consent text. Recreate it with `--consent your.md` before real participants.")
    status = participant_status(study)
    answers = export_answers(study, status=status)
    c1, c2, c3 = st.columns(3)
    c1.metric("Participants", len(status))
    c2.metric("Included", int((~status.excluded).sum()) if len(status) else 0)
    c3.metric("Answers", len(answers))
    st.subheader("Participant flow")
    st.dataframe(flow_table(study, status), hide_index=True)
    st.subheader("Coverage per system pair (included participants)")
    cov = coverage_table(study, status)
    if len(cov) and (cov.ratings == 0).any():
        st.warning(f"{int((cov.ratings == 0).sum())} of {len(cov)} pairs have no ratings yet.")
    st.dataframe(cov, hide_index=True)
    st.subheader("Participants")
    st.dataframe(status[["participant_id", "slot", "consented", "headphone_score", "completed", "gold_correct", "gold_total",
                         "excluded", "exclusion_reason", "simulated"]], hide_index=True)
    # Made on the press (inside this admin session), its address good for a minute (evalkit/streamlit_server.py).
    st.download_button("Download answers (CSV)", lambda: _safe_csv(export_answers(study, status=participant_status(study))),
                       file_name="preferences.csv", mime="text/csv")


def _safe_csv(answers) -> str:
    """The same formula-guarded CSV as `evalkit study export` (a comment must not run in the researcher's spreadsheet)."""
    import tempfile
    from pathlib import Path

    from evalkit.csv_io import write_safe_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answers.csv"
        write_safe_csv(answers, path, "study export (admin page)")
        return path.read_text(encoding="utf-8")
