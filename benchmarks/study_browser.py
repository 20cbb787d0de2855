"""What a participant waits for: Submit → the next question shown, in headless Chromium against a real
`evalkit study serve`, alone and with 20 participants answering at once.

The baseline in the same run is the floor Streamlit itself sets on this machine: a bare Streamlit page
with the same three radio groups in a form, whose Submit only moves a counter. evalkit's page adds
the database (participant lookup, slot, answers saved in one transaction), the audio player and the
two browser-side components on top of that floor.

With many participants, every headless Chromium renderer runs on the same machine as the server, so on 2
cores the browsers' own rendering dominates (the bare floor rises with them); the ratio to the floor at
the same concurrency is what says what evalkit adds. In a real study each participant brings their own
machine, and only the server is shared.

Latency is taken inside the page: one script clicks Submit and resolves when the next question's text is
in the document (a MutationObserver), timed with performance.now(), so Playwright's own round trips are
not counted.

    python -m benchmarks.study_browser [--answers 8] [--concurrent 20] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import textwrap
from pathlib import Path

import numpy as np

QUESTIONS = (("Which advice is more specific?", "Advice A"), ("Which advice would you rather follow?", "Advice B"),
             ("How sure are you?", "4 · sure"))
SUBMIT_AND_WAIT = """async (targets) => {
  const button = [...document.querySelectorAll("button")].find((b) => b.innerText.trim() === "Submit answer");
  const t0 = performance.now();
  button.click();
  await new Promise((resolve) => {
    const check = () => {
      const text = document.body.innerText;
      if (targets.some((t) => text.includes(t))) { observer.disconnect(); resolve(); }
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
    check();
    setTimeout(() => { observer.disconnect(); resolve(); }, 60000);
  });
  return performance.now() - t0;
}"""
BARE_APP = textwrap.dedent('''
    import streamlit as st
    n = st.session_state.setdefault("n", 0)
    st.progress(min(n, 99) / 100, text=f"Question {n + 1} of 100")
    with st.form(f"form-{n}"):
        picks = [st.radio(q, opts, index=None, horizontal=True, key=f"{k}-{n}") for k, (q, opts) in enumerate([
            ("Which advice is more specific?", ["Advice A", "Advice B", "No difference"]),
            ("Which advice would you rather follow?", ["Advice A", "Advice B", "No difference"]),
            ("How sure are you?", ["1 · guessing", "2 · unsure", "3 · fairly sure", "4 · sure", "5 · certain"])])]
        if st.form_submit_button("Submit answer") and None not in picks:
            st.session_state.n += 1
            st.rerun()
''')


def build_study(root: Path, participants: int, answers: int) -> Path:
    from evalkit.data.synth import synthesize
    from evalkit.generate import generate
    from evalkit.study.design import create_study
    from evalkit.systems import load_systems

    synthesize(root / "ts", songs=4, seed=1, seconds=6, sample_rate=22050, problems_per_song=3, progress=False)
    generate(root / "ts", load_systems(Path(__file__).parents[1] / "experiments" / "systems.yaml"), root / "run",
             split="all", show_progress=False)
    create_study(root / "run", root / "study", ratings=2 * participants, trials_per_participant=answers, gold_per_participant=0,
                 headphone_check=False, listen_min_s=None, show_progress=False)
    return root / "study"


def bare_app_with_clips(clips: list[Path]) -> str:
    """The bare form plus one player of a new clip per question (the study's own mixes), as a listening page must
    have: the floor for a page that plays audio. Streamlit sends a clip's bytes through its media endpoint, and
    the browser fetches each new clip when its player appears."""
    player = (f"CLIPS = {[str(c) for c in clips]!r}\n"
              "st.audio(open(CLIPS[n % len(CLIPS)], 'rb').read(), format='audio/wav')\nwith st.form(")
    return BARE_APP.replace("with st.form(", player, 1)


def serve_bare(root: Path, clips: list[Path] | None = None):
    """A bare Streamlit app on a free port (the floor), with a clip player per question when ``clips`` are given."""
    from tests.study.browser import running_server

    app = root / ("bare_clip_app.py" if clips else "bare_app.py")
    app.write_text(bare_app_with_clips(clips) if clips else BARE_APP)
    from evalkit.streamlit_server import SPEED_OPTIONS

    # the floor runs with the same speed settings as `evalkit study serve`, so the ratio is what the page adds
    return running_server(lambda port: ["streamlit", "run", str(app), "--server.port", str(port), "--server.address", "127.0.0.1",
                                        "--server.headless", "true", "--browser.gatherUsageStats", "false", *SPEED_OPTIONS])


async def _settle(page) -> None:
    await page.wait_for_timeout(50)
    await page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")


async def participant(browser, url: str, pid: str | None, answers: int, latencies: list[float]) -> None:
    ctx = await browser.new_context()
    page = await ctx.new_page()
    page.set_default_timeout(120_000)
    if pid is None:
        await page.goto(url)
    else:
        await page.goto(f"{url}/?PROLIFIC_PID={pid}")
        await page.get_by_text("I am 18 or older").click()
        await page.get_by_role("button", name="Continue").click()
        await page.get_by_role("button", name="Start").click()
    for k in range(answers):
        await page.get_by_text(f"Question {k + 1} of").wait_for(timeout=60_000)
        await _settle(page)
        # Under load a rerun can still be drawing when the question's text appears: answer until every
        # choice reads as checked in the current form (a person would see the stale form greyed out).
        for _ in range(20):
            for question, choice in QUESTIONS:
                await page.get_by_role("radiogroup", name=question).get_by_text(choice, exact=True).click()
            await _settle(page)
            checked = [await page.get_by_role("radiogroup", name=q).get_by_role("radio", name=c).is_checked() for q, c in QUESTIONS]
            if all(checked):
                break
        # the next question, or the end (a slot can hold one trial fewer than asked: blocks differ by at most one)
        ms = await page.evaluate(SUBMIT_AND_WAIT, [f"Question {k + 2} of", "Your completion code"])
        if ms >= 60000:
            raise RuntimeError(f"{pid}: no next question 60 s after Submit; the page shows: {(await page.inner_text('body'))[:600]}")
        latencies.append(ms / 1000)
        if await page.get_by_text("Your completion code").count():
            break
    await ctx.close()


async def _drive(url: str, pids: list[str | None], answers: int) -> list[float]:
    from playwright.async_api import async_playwright

    from tests.study.browser import CHROMIUM, FLAGS

    latencies: list[float] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        await asyncio.gather(*(participant(browser, url, pid, answers, latencies) for pid in pids))
        await browser.close()
    return latencies


def _stats(lat: list[float]) -> dict:
    a = np.asarray(lat) * 1000
    return {"n": len(a), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)), "max_ms": float(a.max())}


def run(answers: int = 8, concurrent: int = 20) -> dict:
    from tests.study.browser import serve

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        study = build_study(root, concurrent + 1, answers)
        with serve_bare(root) as bare:
            asyncio.run(_drive(bare, [None], 2))  # warm-up: first script run, imports
            out["bare_alone"] = _stats(asyncio.run(_drive(bare, [None], answers)))
            out["bare_concurrent"] = _stats(asyncio.run(_drive(bare, [None] * concurrent, answers)))
        with serve_bare(root, sorted((study / "stimuli").glob("*/mix.wav"))) as bare_clip:
            asyncio.run(_drive(bare_clip, [None], 2))
            out["bare_clip_alone"] = _stats(asyncio.run(_drive(bare_clip, [None], answers)))
        with serve(study) as url:
            asyncio.run(_drive(url, ["warmup"], 2))
            out["evalkit_alone"] = _stats(asyncio.run(_drive(url, ["solo"], answers)))
            out["evalkit_concurrent"] = _stats(asyncio.run(_drive(url, [f"p{k:02d}" for k in range(concurrent)], answers)))
    out["concurrent"] = concurrent
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=8)
    ap.add_argument("--concurrent", type=int, default=20)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    r = run(args.answers, args.concurrent)
    print(json.dumps(r, indent=2))
    a, b, ca, cb = r["evalkit_alone"], r["bare_alone"], r["evalkit_concurrent"], r["bare_concurrent"]
    bc = r["bare_clip_alone"]
    rows = (f"| study page, Submit → next question shown, 1 participant in headless Chromium | bare Streamlit form p50 {b['p50_ms']:.0f} ms, "
            f"p95 {b['p95_ms']:.0f} ms | p50 {a['p50_ms']:.0f} ms, p95 {a['p95_ms']:.0f} ms (n = {a['n']}) | "
            f"{a['p50_ms'] / b['p50_ms']:.2f}× the floor; target ≤ 1.5× at p50 |\n"
            f"| the same, against the bare form with one player of the question's clip (what a listening page must show) | "
            f"bare form + clip p50 {bc['p50_ms']:.0f} ms, p95 {bc['p95_ms']:.0f} ms | p50 {a['p50_ms']:.0f} ms | "
            f"{a['p50_ms'] / bc['p50_ms']:.2f}× the floor with a clip |\n"
            f"| the same with {r['concurrent']} participants at once (one server, 2 cores) | bare Streamlit p50 {cb['p50_ms']:.0f} ms, "
            f"p95 {cb['p95_ms']:.0f} ms | p50 {ca['p50_ms']:.0f} ms, p95 {ca['p95_ms']:.0f} ms (n = {ca['n']}) | "
            f"{ca['p50_ms'] / cb['p50_ms']:.2f}× the floor at p50, {ca['p95_ms'] / cb['p95_ms']:.2f}× at p95 |")
    print(rows)
    if args.record:
        from benchmarks.record import record

        record("study_browser", rows)


if __name__ == "__main__":
    main()
