"""An advisor's text is data, not markup (issue #24): in a real browser, Markdown and HTML in an advice show as the
characters written, in the same style as any other advice; an image in it is never fetched; a participant's formula
comment is exported inert."""

from __future__ import annotations

import csv
import http.server
import threading

import pandas as pd
import pytest

from evalkit.data.testset import load_testset
from evalkit.generate import generate
from evalkit.study.config import StudyConfig
from evalkit.study.design import create_study
from evalkit.study.study_store import StudyStore
from evalkit.systems.base import parse_systems
from tests.conftest import run_cli
from tests.study.browser import (
    answer,
    at_first_question,
    browser,
    consent_and_screen,
    second_tab,
    serve,
    settle,
)

pytestmark = pytest.mark.slow


class _Pixel(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - the stdlib's name
        _Pixel.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def pixel_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pixel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Pixel.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_markdown_and_html_in_advice_are_shown_as_text_and_fetch_nothing(small_testset, tmp_path, pixel_server):
    hostile = (f"# LOUDER\n**Raise the bass 3 dB** ![pixel]({pixel_server}/pixel.png) <img src=\"{pixel_server}/img.png\"> "
               f"[details]({pixel_server}/link) 🎚️")
    ts = load_testset(small_testset)
    rows = [{"item_id": i.id, "system": "llm-ish", "text": hostile} for i in ts.split("test")]
    pd.DataFrame(rows).to_csv(tmp_path / "advice.csv", index=False)
    systems = parse_systems([{"name": "llm-ish", "kind": "precomputed", "condition": "mix", "path": str(tmp_path / "advice.csv")},
                             {"name": "analytic", "kind": "analytic", "condition": "mix"}], "test")
    generate(small_testset, systems, tmp_path / "run", show_progress=False)
    create_study(tmp_path / "run", tmp_path / "study", ratings=1, trials_per_participant=2, gold_per_participant=0,
                 max_items=2, headphone_check=False, listen_min_s=None, show_progress=False)
    with serve(tmp_path / "study") as url, browser() as b:
        page = b.new_page()
        page.set_default_timeout(20000)
        consent_and_screen(page, url, "e2e-hostile-advice", None)
        page.get_by_role("button", name="Start").click()
        page.get_by_text("Question 1 of").wait_for()
        settle(page)
        blocks = page.locator(".evalkit-advice")
        assert blocks.count() == 2
        texts = [blocks.nth(k).inner_text() for k in range(2)]
        shown = next(t for t in texts if "LOUDER" in t)
        assert "# LOUDER" in shown and "**Raise the bass 3 dB**" in shown and "![pixel](" in shown and "<img src=" in shown
        assert blocks.locator("img, a, h1, h2, strong").count() == 0  # nothing rendered from the text
        styles = [blocks.nth(k).evaluate("e => getComputedStyle(e).fontSize + getComputedStyle(e).fontWeight") for k in range(2)]
        assert styles[0] == styles[1]  # both advice texts look alike
        page.wait_for_timeout(500)
        page.get_by_role("textbox", name="Comment (optional)").fill('=HYPERLINK("http://attacker.example","click")')
        answer(page)
        page.get_by_text("Answer 1 saved.").wait_for()
    assert _Pixel.hits == []  # the image in the advice was never requested
    out = tmp_path / "answers.csv"
    run_cli("study", "export", tmp_path / "study", "--out", out, check=True)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# evalkit") and "formula guard" in lines[0]
    comments = [r["comment"] for r in csv.DictReader(lines[1:]) if r["comment"]]
    assert set(comments) == {"'=HYPERLINK(\"http://attacker.example\",\"click\")"}  # one row per question
    stored = StudyStore(tmp_path / "study").answers_frame()
    assert stored.comment.dropna().str.startswith("=HYPERLINK").any()  # the store keeps what was typed; only the export guards
    run_cli("study", "export", tmp_path / "study", "--out", tmp_path / "answers.json", check=True)
    assert pd.read_json(tmp_path / "answers.json").comment.dropna().str.startswith("=HYPERLINK").any()


def test_odd_ids_keys_and_tokens_get_a_short_message_never_internals(study_dir):
    """Non-ASCII browser keys and admin tokens, '..' as a participant, a 20,000-character session id: each gets a
    short message; no page shows a traceback or a server path. A good admin token leaves the address bar."""
    cfg = StudyConfig.load(study_dir)
    with serve(study_dir, {"EVALKIT_ADMIN_TOKEN": "s3cret"}) as url, browser() as b:
        page = b.new_page()
        page.set_default_timeout(20000)
        consent_and_screen(page, url, "e2e-odd-key", cfg)
        page.get_by_role("button", name="Start").wait_for()
        for link, expect_text in ((f"{url}/?PROLIFIC_PID=e2e-odd-key&k=ключ", "This study is open in another browser"),
                                  (f"{url}/?PROLIFIC_PID=..", "participant id missing or malformed"),
                                  (f"{url}/?PROLIFIC_PID=e2e-long-session&SESSION_ID={'s' * 20000}", "I am 18 or older"),
                                  (f"{url}/admin?token=ключ", "Wrong token")):
            other = b.new_context().new_page()
            other.set_default_timeout(20000)
            other.goto(link)
            other.get_by_text(expect_text).first.wait_for()
            body = other.inner_text("body")
            assert "Traceback" not in body and str(study_dir) not in body and "site-packages" not in body
            other.context.close()
        admin = b.new_page()
        admin.set_default_timeout(20000)
        admin.goto(f"{url}/admin?token=s3cret")
        admin.get_by_role("button", name="Download answers (CSV)").wait_for()
        assert "token" not in admin.url
    assert StudyStore(study_dir).participant("e2e-long-session")["session_id"] is None  # refused, not stored


def test_a_stale_tab_is_told_its_answer_lost_and_moves_on(study_dir):
    """Two tabs of one participant on question 1: the first answers; the second's different answer is not saved, and
    the second tab says so and shows question 2. The event is logged; the store keeps the first answer."""
    cfg = StudyConfig.load(study_dir)
    with serve(study_dir) as url, browser() as b:
        first = at_first_question(b, url, "e2e-two-tabs", cfg)
        second = second_tab(first)
        answer(first, follow="Advice A", specific="Advice A", confidence="4 · sure")
        first.get_by_text("Answer 1 saved.").wait_for()
        answer(second, follow="Advice B", specific="Advice B", confidence="2 · unsure")
        second.get_by_text("already answered in another window").wait_for()
        second.get_by_text("Question 2 of").wait_for()
    study = StudyStore(study_dir)
    rows = study.answers_frame()
    mine = rows[rows.participant_id == "e2e-two-tabs"]
    assert len(mine) == 2 and set(mine.confidence) == {4}  # one trial, both questions, the first tab's answer
    events = study.events_frame()
    assert (events.kind == "stale_tab_answer").sum() == 1
