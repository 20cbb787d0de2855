"""What every page shares: the study (one StudyStore per process) and small view helpers."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import streamlit as st

from evalkit.study.study_store import StudyStore


@st.cache_resource
def get_study(study_dir: str | None = None) -> StudyStore:
    study_dir = study_dir or os.environ.get("EVALKIT_STUDY_DIR")
    if not study_dir:
        raise RuntimeError("EVALKIT_STUDY_DIR is not set; start the app with `evalkit study serve STUDY`")
    return StudyStore(Path(study_dir), url=os.environ.get("EVALKIT_STUDY_STORE_URL"))


@st.cache_resource(max_entries=512)  # bytes cannot change: shared, not copied per call as st.cache_data would
def _clip_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def audio(study: StudyStore, rel: str, label: str, participant: str | None = None) -> None:
    """Play a stimulus; only files inside the study's stimuli folder are ever read. With ``participant`` the bytes,
    and so the clip's address, are that participant's own (the sound check: evalkit/study/headphone.py)."""
    from evalkit.study.headphone import participant_clip_bytes

    st.caption(label)
    data = _clip_bytes(str(study.audio_path(rel)))
    if participant is not None:
        data = participant_clip_bytes(data, study.config.secret, participant)
    st.audio(data, format="audio/wav")


def prolific_link(url: str | None, code: str | None) -> str:
    """Prolific's return link with the code as ``cc`` (kept if the URL already has one)."""
    url = url or "https://app.prolific.com/submissions/complete"
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if code and "cc" not in query:
        query["cc"] = code
    return urlunsplit(parts._replace(query=urlencode(query)))
