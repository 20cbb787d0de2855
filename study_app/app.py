"""The listening study (Streamlit): a router over thin pages. Start with `evalkit study serve STUDY`."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).parent))

import admin_page  # noqa: E402
import participant_page  # noqa: E402

st.set_page_config(page_title="Listening study", page_icon="🎧", layout="centered")
st.navigation([st.Page(participant_page.render, title="Study", url_path="study", default=True),
               st.Page(admin_page.render, title="Admin", url_path="admin")], position="hidden").run()
