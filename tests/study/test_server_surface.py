"""What a served study answers besides its page: health yes; Streamlit's metrics (how many people are taking the study,
the server's memory) and its agent API no, whatever the user's Streamlit config says."""

import urllib.error
import urllib.request

from tests.study.browser import serve


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def test_metrics_page_is_closed_and_health_still_answers(study_dir, tmp_path):
    # A user's config.toml that would open the agent API: the served study must keep it off.
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text("[server]\nenableAgentApi = true\n")
    with serve(study_dir, env={"HOME": str(tmp_path)}) as url:
        assert _get(f"{url}/_stcore/health") == (200, "ok")
        status, body = _get(f"{url}/_stcore/metrics")
        assert status == 404 and "session" not in body.lower()  # Streamlit itself answers 200 with session_events_total
        status, body = _get(f"{url}/_stcore/agent/openapi.json")
        # Streamlit links this document from every page; with the API on it describes how to drive the page.
        assert status == 200 and "switched off" in body
