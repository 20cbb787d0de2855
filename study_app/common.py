"""What every page shares: the study (one StudyStore per process) and small view helpers."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from evalkit.study.store import StudyStore


@st.cache_resource
def get_study(study_dir: str | None = None) -> StudyStore:
    study_dir = study_dir or os.environ.get("EVALKIT_STUDY_DIR")
    if not study_dir:
        raise RuntimeError("EVALKIT_STUDY_DIR is not set; start the app with `evalkit study serve STUDY`")
    return StudyStore(Path(study_dir), url=os.environ.get("EVALKIT_STUDY_STORE_URL"))


def audio(study: StudyStore, rel: str, label: str) -> None:
    """Play a stimulus; only files inside the study's stimuli folder are ever read."""
    st.caption(label)
    st.audio(study.audio_path(rel).read_bytes(), format="audio/wav")
