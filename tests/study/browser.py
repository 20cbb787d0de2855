"""Helpers to drive the real study app: start `evalkit study serve`, launch Debian's headless Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-quic", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(argv, env: dict | None = None, port: int | None = None):
    """Start a Streamlit server (``argv(port)`` after ``python -m``) and yield its URL once healthy."""
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", *argv(port)], env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.2)
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {proc.stderr.read().decode()[-2000:]}")
        else:
            raise RuntimeError("streamlit did not become healthy in 60 s")
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


def serve(study_dir, env: dict | None = None, port: int | None = None):
    """The real `evalkit study serve STUDY` on a free port."""
    return running_server(lambda p: ["evalkit.cli", "study", "serve", str(study_dir), "--port", str(p)], env, port)


def settle(page) -> None:
    """Wait until Streamlit has finished re-running the script (its status widget is gone), so the
    next click lands on the current page's widgets rather than the previous run's."""
    page.wait_for_timeout(150)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")


# Headless Chromium pauses some of several players started at once; a participant would press play again, and so
# does this: resume after any pause until the clip has ended.
PLAY_THROUGH = "a => { a.addEventListener('pause', () => { if (!a.ended) a.play(); }); a.play(); }"
# One clip after another, as a participant plays a list of clips: resolves when this one has ended.
PLAY_TO_END = """a => new Promise((done) => {
  a.addEventListener('ended', () => done(true), { once: true });
  a.addEventListener('pause', () => { if (!a.ended) a.play(); });
  a.play();
  setTimeout(() => done(false), 20000);
})"""


def play_to_unlock(page, players: str = "[class*='st-key-clip-'] audio", button: str = "Submit answer",
                   question: str = "Which advice would you rather follow?", one_at_a_time: bool = False) -> None:
    """Play the page's clips (as a participant pressing ▶) until the questions unlock: all at once, or each to its end
    in turn (the sound check's six clips: headless Chromium stalls some of six players started together). A
    participant whose first play went unheard (after a reload the page's listeners can attach after playing began)
    presses ▶ again: so does this, up to three times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    settle(page)
    for attempt in range(3):
        found = page.locator(players)
        found.first.wait_for(state="attached")  # a player replaces its loading skeleton
        for player in found.all():
            # a player whose media did not load (duration NaN: Streamlit's media manager can answer 404 for a moment
            # around a rerun) is loaded again, as a participant's second press of ▶ would
            player.evaluate("a => { if (isNaN(a.duration) || a.error) a.load(); }" if attempt else "a => {}")
            player.evaluate(PLAY_TO_END if one_at_a_time else PLAY_THROUGH)
        try:
            expect(page.get_by_role("button", name=button)).to_be_enabled(timeout=15000)
            settle(page)  # unlocked once the page has settled: the questions' radios are enabled too
            expect(page.get_by_role("radiogroup", name=question).get_by_role("radio").first).to_be_enabled(timeout=5000)
            break
        except (PlaywrightTimeout, AssertionError):
            if attempt == 2:
                raise
            settle(page)
    settle(page)


def answer(page, follow: str = "Advice A", specific: str = "Advice A", confidence: str = "4 · sure", double: bool = False) -> None:
    from playwright.sync_api import expect

    settle(page)
    for question, choice in (("Which advice is more specific?", specific), ("Which advice would you rather follow?", follow),
                             ("How sure are you?", confidence)):
        group = page.get_by_role("radiogroup", name=question)
        group.get_by_text(choice, exact=True).click()
        expect(group.get_by_role("radio", name=choice)).to_be_checked()
    button = page.get_by_role("button", name="Submit answer")
    button.dblclick() if double else button.click()
    settle(page)


def consent_and_screen(page, url: str, pid: str, config: dict | None, *, passing: bool = True) -> None:
    """Open the link, consent, and answer the sound check (rightly or wrongly) as a participant would."""
    from evalkit.study.headphone import TRIALS, participant_clips

    page.goto(f"{url}/?PROLIFIC_PID={pid}")
    page.get_by_text("I am 18 or older").click()
    page.get_by_role("button", name="Continue").click()
    settle(page)
    if config and config.headphone_check:
        page.get_by_text("Sound check").wait_for()
        settle(page)
        if config.listen_min_s:  # the sound check's questions unlock as its clips are heard to the end
            play_to_unlock(page, "[class*='st-key-hc-c'] audio", "Continue", f"Quietest tone in clip {TRIALS}", one_at_a_time=True)
        for k, clip in enumerate(participant_clips(config, pid)):
            ans = clip["answer"] if passing else clip["answer"] % 3 + 1
            page.get_by_role("radiogroup", name=f"Quietest tone in clip {k + 1}").get_by_text(str(ans), exact=True).click()
        page.get_by_role("button", name="Continue").click()
        settle(page)


def at_first_question(b, url: str, pid: str, config: dict | None):
    """A participant in a fresh browser context: consented, screened, started, on question 1."""
    page = b.new_context().new_page()
    page.set_default_timeout(20000)
    consent_and_screen(page, url, pid, config)
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Question 1 of").wait_for()
    return page


def second_tab(first):
    """The same participant's link opened in another tab of the same browser, at question 1 as well."""
    second = first.context.new_page()
    second.set_default_timeout(20000)
    second.goto(first.url)
    second.get_by_role("button", name="Start").click()
    second.get_by_text("Question 1 of").wait_for()
    return second


@contextlib.contextmanager
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()
