"""`evalkit view RUN` in headless Chromium: filter to one system, the worst item first, its prompt, advice, claims and truth
on the page."""

import pytest

from evalkit.judging.rubrics import load_judge
from evalkit.judging.stage import judge_run
from evalkit.paths import find_shipped
from evalkit.store import Store
from tests.conftest import run_cli
from tests.study.browser import browser, running_server, settle


@pytest.fixture(scope="module")
def judged_run(analytic_run):
    judge_run(Store(analytic_run), load_judge(find_shipped("judges/reference.yaml")), show_progress=False)
    return analytic_run


def _worst(run, system):
    """Independently of the viewer: the lowest balance improvement among the system's reference judgments."""
    store = Store(run, create=False)
    advice = {a.id: a for a in store.advice() if a.system == system}
    js = [j for j in store.judgments("reference") if j.protocol == "reference" and j.advice_id in advice]
    j = min(js, key=lambda j: j.metrics["balance_improvement_db"])
    return advice[j.advice_id], j.metrics["balance_improvement_db"], {i.id: i for i in store.items()}


def test_viewer_filters_sorts_and_shows_the_worst_item(judged_run):
    target = "analytic"
    worst, value, items = _worst(judged_run, target)
    with running_server(lambda p: ["evalkit.cli", "view", str(judged_run), "--port", str(p)]) as url, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1600})
        page.set_default_timeout(20000)
        page.goto(url)
        page.get_by_text("evalkit view").first.wait_for()
        settle(page)
        page.locator(".st-key-f-system").get_by_role("combobox").click()  # the System filter
        page.get_by_role("option", name=target, exact=True).click()
        page.keyboard.press("Escape")
        settle(page)
        page.get_by_text("worst balance improvement").click()
        settle(page)
        heading = page.locator("h1, h2").filter(has_text=worst.item_id).first
        heading.wait_for()
        assert f"{worst.item_id} · {worst.arm}" in heading.inner_text()
        body = page.inner_text("body")
        assert f"{value:+.2f} dB" in body
        assert " ".join(worst.text.split())[:60] in " ".join(body.split())  # the advice, as plain text
        assert "How should I change the gain of each stem" in body  # the prompt its condition shows
        truth = items[worst.item_id].correction_db
        section = body.split("Claims against the truth", 1)[1].split("Prompt (as", 1)[0]
        for stem in truth:
            assert stem in section
        assert "truth_db" in section and "claimed_db" in section
        assert "reference-gains" in body  # the reference judge's verdict row
        assert page.locator("audio").count() == 3  # problem mix, after the advice, balanced
    r = run_cli("view", judged_run, "--port", "70000")
    assert r.returncode == 2 and "Traceback" not in r.stderr
