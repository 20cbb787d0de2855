"""What a participant waits for: Submit → the next question shown, in headless Chromium against a real
`evalkit study serve`, alone and with 20 participants answering at once.

The baselines in the same run are floors Streamlit itself sets on this machine: a bare Streamlit page
with the same three radio groups in a form, whose Submit only moves a counter; the same with one player of
the question's clip; and a replica of the study page's own elements (fragment, progress line, clip, advice,
form with a comment box, leave expander) with none of evalkit's work. evalkit's page adds the database
(participant lookup, answers saved in one transaction) and the browser-side page helper on top of the replica.

With many participants, every headless Chromium renderer runs on the same machine as the server, so on 2
cores the browsers' own rendering dominates (the bare floor rises with them); the ratio to the floor at
the same concurrency is what says what evalkit adds. In a real study each participant brings their own
machine, and only the server is shared.

Alone, one participant on each of the four pages (the bare form, the bare form with a clip, the replica,
evalkit's page) takes turns, one answer on each page in turn, so whatever else the machine does falls on all of them alike.

Latency is taken inside the page: one script clicks Submit and resolves once the next question's text is
in the document (a MutationObserver reading textContent) and the frame that shows it has been painted
(requestAnimationFrame, then a task), timed with performance.now(), so Playwright's own round trips are
not counted. (Reading innerText instead forces a layout of the whole page at every mutation: the
measurement itself then costs a larger page more.)

    python -m benchmarks.study_browser [--answers 8] [--concurrent 20] [--solo-answers 24] [--record]
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
      const text = document.body.textContent;
      if (targets.some((t) => text.includes(t))) {
        observer.disconnect();
        requestAnimationFrame(() => setTimeout(resolve, 0));
      }
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


# What Streamlit itself needs to draw the study page's own elements, with none of evalkit's work (no database, no
# browser-side components): the same fragment, progress line, players drawn last, advice block, form with a comment
# box, and the leave-the-study expander outside the fragment. The ratio of evalkit's page to this is what evalkit adds.
REPLICA_APP = textwrap.dedent('''
    import streamlit as st
    CLIPS = {clips!r}
    ADVICE = "Raise the vocals by about 3 dB; they are buried under the guitars. Leave the drums and the bass as they are."
    CHOICES = ["Advice A", "Advice B", "No difference"]

    @st.fragment
    def question():
        n = st.session_state.setdefault("n", 0)
        if st.session_state.get(f"submit-{{n}}") and None not in [st.session_state.get(f"{{k}}-{{n}}") for k in range(3)]:
            n = st.session_state.n = n + 1  # the answer taken, the next question drawn in the same run
        st.progress(min(n, 99) / 100, text=f"Question {{n + 1}} of 100")
        with st.container():
            players = st.container()
            cells = "".join(f"<div><h3>{{label}}</h3><div style='padding: .5rem'>{{ADVICE}}</div></div>" for label in ("Advice A", "Advice B"))
            st.html(f"<div style='display: grid; grid-template-columns: 1fr 1fr; gap: 1rem'>{{cells}}</div>")
            with st.form(f"form-{{n}}"):
                for k, (q, opts) in enumerate([("Which advice is more specific?", CHOICES), ("Which advice would you rather follow?", CHOICES),
                                               ("How sure are you?", ["1 · guessing", "2 · unsure", "3 · fairly sure", "4 · sure", "5 · certain"])]):
                    st.radio(q, opts, index=None, horizontal=True, key=f"{{k}}-{{n}}")
                st.text_area("Comment (optional)", max_chars=500, key=f"c-{{n}}")
                st.form_submit_button("Submit answer", key=f"submit-{{n}}")
            with players:
                st.caption("The mix")
                st.audio(open(CLIPS[n % len(CLIPS)], "rb").read(), format="audio/wav")

    question()
    with st.expander("Leave the study"):
        st.write("You can stop at any time without giving a reason.")
        sure = st.checkbox("Yes, I want to leave the study")
        st.button("Leave the study now", disabled=not sure)
''')


def serve_bare(root: Path, clips: list[Path] | None = None, replica: bool = False):
    """A bare Streamlit app on a free port (the floor), with a clip player per question when ``clips`` are given, or
    the study page's elements without evalkit (``replica``, which needs ``clips``)."""
    from tests.study.browser import running_server

    app = root / ("replica_app.py" if replica else "bare_clip_app.py" if clips else "bare_app.py")
    app.write_text(REPLICA_APP.format(clips=[str(c) for c in clips or []]) if replica else bare_app_with_clips(clips) if clips
                   else BARE_APP)
    from evalkit.streamlit_server import SPEED_OPTIONS

    # the floor runs with the same speed settings as `evalkit study serve`, so the ratio is what the page adds
    return running_server(lambda port: ["streamlit", "run", str(app), "--server.port", str(port), "--server.address", "127.0.0.1",
                                        "--server.headless", "true", "--browser.gatherUsageStats", "false", *SPEED_OPTIONS])


async def _settle(page) -> None:
    await page.wait_for_timeout(50)
    await page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")


async def _open(browser, url: str, pid: str | None):
    """A participant's page at question 1 (a bare page: at its first question)."""
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
    return page


async def _answer(page, k: int, latencies: list[float]) -> bool:
    """Answer question ``k + 1`` and time Submit → the next question shown; False once the page has ended."""
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
        raise RuntimeError(f"no next question 60 s after Submit; the page shows: {(await page.inner_text('body'))[:600]}")
    latencies.append(ms / 1000)
    return not await page.get_by_text("Your completion code").count()


async def participant(browser, url: str, pid: str | None, answers: int, latencies: list[float]) -> None:
    page = await _open(browser, url, pid)
    for k in range(answers):
        if not await _answer(page, k, latencies):
            break
    await page.context.close()


async def _browser_run(body):
    from playwright.async_api import async_playwright

    from tests.study.browser import CHROMIUM, FLAGS

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            return await body(browser)
        finally:
            await browser.close()


async def _drive(url: str, pids: list[str | None], answers: int) -> list[float]:
    latencies: list[float] = []

    async def body(browser):
        await asyncio.gather(*(participant(browser, url, pid, answers, latencies) for pid in pids))
    await _browser_run(body)
    return latencies


async def _interleaved(pages: dict[str, tuple[str, str | None]], answers: int) -> dict[str, list[float]]:
    """One participant on each page, taking turns: an answer on one page, then on the next. Whatever else the machine
    is doing falls on every page alike, so the ratio of their medians is steadier than that of separate runs."""
    latencies: dict[str, list[float]] = {name: [] for name in pages}

    async def body(browser):
        opened = {name: await _open(browser, url, pid) for name, (url, pid) in pages.items()}
        for k in range(answers):
            for name, page in opened.items():
                await _answer(page, k, latencies[name])
    await _browser_run(body)
    return latencies


def _stats(lat: list[float]) -> dict:
    a = np.asarray(lat) * 1000
    return {"n": len(a), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)), "max_ms": float(a.max())}


def run(answers: int = 8, concurrent: int = 20, solo_answers: int = 24) -> dict:
    from tests.study.browser import serve

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        study = build_study(root, concurrent + 2, max(answers, solo_answers + 3))
        clips = sorted((study / "stimuli").glob("*/mix.wav"))
        with serve_bare(root) as bare, serve_bare(root, clips) as bare_clip, serve_bare(root, clips, replica=True) as replica, \
                serve(study) as url:
            pages = {"bare_alone": (bare, None), "bare_clip_alone": (bare_clip, None), "replica_alone": (replica, None),
                     "evalkit_alone": (url, "solo")}
            asyncio.run(_interleaved({"bare": (bare, None), "clip": (bare_clip, None), "replica": (replica, None),
                                      "evalkit": (url, "warmup")}, 2))
            out.update({name: _stats(lat) for name, lat in asyncio.run(_interleaved(pages, solo_answers)).items()})
            out["bare_concurrent"] = _stats(asyncio.run(_drive(bare, [None] * concurrent, answers)))
            out["evalkit_concurrent"] = _stats(asyncio.run(_drive(url, [f"p{k:02d}" for k in range(concurrent)], answers)))
    out["concurrent"] = concurrent
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=8, help="answers per participant with --concurrent participants")
    ap.add_argument("--solo-answers", type=int, default=24, help="answers of the one participant alone on each page, taking turns (the p50s to compare)")
    ap.add_argument("--concurrent", type=int, default=20)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    r = run(args.answers, args.concurrent, args.solo_answers)
    print(json.dumps(r, indent=2))
    a, b, ca, cb = r["evalkit_alone"], r["bare_alone"], r["evalkit_concurrent"], r["bare_concurrent"]
    bc, rep = r["bare_clip_alone"], r["replica_alone"]
    rows = (f"| study page, Submit → next question shown, 1 participant in headless Chromium (pages taking turns) | bare Streamlit form "
            f"p50 {b['p50_ms']:.0f} ms, p95 {b['p95_ms']:.0f} ms | p50 {a['p50_ms']:.0f} ms, p95 {a['p95_ms']:.0f} ms (n = {a['n']}) | "
            f"{a['p50_ms'] / b['p50_ms']:.2f}× the floor; target ≤ 1.5× at p50 |\n"
            f"| the same, against the bare form with one player of the question's clip (what a listening page must show) | "
            f"bare form + clip p50 {bc['p50_ms']:.0f} ms, p95 {bc['p95_ms']:.0f} ms | p50 {a['p50_ms']:.0f} ms | "
            f"{a['p50_ms'] / bc['p50_ms']:.2f}× the floor with a clip |\n"
            f"| the same, against the study page's own elements drawn by bare Streamlit (no database, no components) | "
            f"replica p50 {rep['p50_ms']:.0f} ms, p95 {rep['p95_ms']:.0f} ms | p50 {a['p50_ms']:.0f} ms | "
            f"{a['p50_ms'] / rep['p50_ms']:.2f}×: what evalkit adds to Streamlit drawing the page |\n"
            f"| the same with {r['concurrent']} participants at once (one server, 2 cores) | bare Streamlit p50 {cb['p50_ms']:.0f} ms, "
            f"p95 {cb['p95_ms']:.0f} ms | p50 {ca['p50_ms']:.0f} ms, p95 {ca['p95_ms']:.0f} ms (n = {ca['n']}) | "
            f"{ca['p50_ms'] / cb['p50_ms']:.2f}× the floor at p50, {ca['p95_ms'] / cb['p95_ms']:.2f}× at p95 |")
    print(rows)
    if args.record:
        from benchmarks.record import record

        record("study_browser", rows)


if __name__ == "__main__":
    main()
