"""Report sections declared once (issue #26): a table no section shows, a figure nobody draws, or a table shown twice is
an error instead of a table silently missing; a report statistic from another package is one file (the recipe in
docs/architecture.md, followed here end to end with a toy statistic)."""

import importlib.metadata
import sys

import pytest

from evalkit.report import sections
from evalkit.report.sections import Section, TableSpec, check_declared, declared_tables


def test_a_table_no_section_shows_is_an_error_not_a_silent_gap():
    check_declared(declared_tables())  # the built-in declaration is whole
    with pytest.raises(RuntimeError, match="primary_contrasts_typo"):
        check_declared(["primary_contrasts", "primary_contrasts_typo"])
    with pytest.raises(RuntimeError, match="figures nobody draws"):
        check_declared([], extra=[Section("x", figures=("no_such_figure",))])
    with pytest.raises(RuntimeError, match="shown twice"):
        check_declared([], extra=[Section("x", tables=(TableSpec("worst_items", "again"),))])


TOY = '''
import pandas as pd

from evalkit.report.sections import Section, TableSpec


def advice_length(store, an):
    rows = [{"system": a.system, "condition": a.condition.value, "words": len(a.text.split())} for a in store.advice()]
    return pd.DataFrame(rows).groupby(["system", "condition"], as_index=False).words.mean()


section = Section("Advice length", intro="Mean words per advice (a toy statistic).",
                  tables=(TableSpec("advice_length", "Mean words per advice", compute=advice_length),))
'''


@pytest.fixture
def restore_sections():
    before = list(sections.SECTIONS)
    yield
    sections.SECTIONS[:] = before


def test_a_plugin_statistic_is_one_file_and_reaches_the_report(small_testset, tmp_path, monkeypatch, restore_sections):
    from evalkit.report.build import write_report
    from tests.conftest import judged_run

    (tmp_path / "toy_stat.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint(name="toy", value="toy_stat:section", group=sections.ENTRY_POINT_GROUP)
    assert sections.load_plugins([ep]) == ["Advice length"]
    assert sections.load_plugins([ep]) == []  # once
    store = judged_run(small_testset, tmp_path / "run")
    write_report(store, tmp_path / "run", bootstrap=0)
    md = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "Advice length" in md and "Mean words per advice" in md
    assert (tmp_path / "run" / "tables" / "advice_length.csv").exists()
    sys.modules.pop("toy_stat", None)
