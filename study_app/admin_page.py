"""Admin: progress and the CSV export, behind a token from the environment (EVALKIT_ADMIN_TOKEN)
or the study config. Without a configured token the page is off."""

from __future__ import annotations

import hmac
import os

import streamlit as st
from common import get_study


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
    progress = study.progress()
    answers = study.export()
    c1, c2, c3 = st.columns(3)
    c1.metric("Participants", len(progress))
    c2.metric("Completed", int(progress.completed_at.notna().sum()) if len(progress) else 0)
    c3.metric("Answers", len(answers))
    st.dataframe(progress[["participant_id", "slot", "answers", "completed_at", "headphone_passed", "simulated"]])
    st.download_button("Download answers (CSV)", answers.to_csv(index=False), file_name="preferences.csv", mime="text/csv")
