"""Admin: the participant flow, coverage per system pair, progress and the CSV export, behind a token
from the environment (EVALKIT_ADMIN_TOKEN) or the study config. Without a configured token the page is off."""

from __future__ import annotations

import hmac
import os

import streamlit as st
from common import get_study

from evalkit.study.outcomes import coverage_table, export_answers, flow_table, participant_status


def render() -> None:
    study = get_study()
    expected = os.environ.get("EVALKIT_ADMIN_TOKEN") or study.config.get("admin_token")
    st.title("Study admin")
    if not expected:
        st.error("Admin is disabled: set EVALKIT_ADMIN_TOKEN when starting the app.")
        st.stop()
    given = st.query_params.get("token") or st.text_input("Admin token", type="password")
    if not given or not hmac.compare_digest(str(given), str(expected)):
        if given:
            st.error("Wrong token.")
        st.stop()
    if study.config.get("consent_is_example"):
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
    st.download_button("Download answers (CSV)", answers.to_csv(index=False), file_name="preferences.csv", mime="text/csv")
