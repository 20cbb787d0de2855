"""The shape the house rules ask for (issue #14): short functions, no private names imported across packages,
no SQL outside the store modules. Measured on the source, so a regression fails here, not in review."""

import ast
import re

from tests.conftest import ROOT

SOURCES = sorted((ROOT / "evalkit").rglob("*.py"))


def test_no_function_over_sixty_lines():
    long = [(str(p.relative_to(ROOT)), n.name, n.end_lineno - n.lineno + 1) for p in SOURCES
            for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            and n.end_lineno - n.lineno + 1 > 60]
    assert long == []


def test_no_private_name_imported_from_another_package():
    bad = []
    for p in SOURCES + sorted((ROOT / "study_app").glob("*.py")):
        own = ".".join(p.relative_to(ROOT).with_suffix("").parts[:2])
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("evalkit"):
                other = ".".join(node.module.split(".")[:2])
                bad += [(str(p.relative_to(ROOT)), node.module, a.name) for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__") and other != own]
    assert bad == []


def test_sql_stays_in_the_store_modules():
    allowed = {str(p.relative_to(ROOT)) for p in (ROOT / "evalkit" / "store").glob("*.py")}
    users = [str(p.relative_to(ROOT)) for p in SOURCES if str(p.relative_to(ROOT)) not in allowed
             and re.search(r"\.engine\.(?:connect|begin)\(|\bselect\(", p.read_text())]
    assert users == []


def _imports(path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_the_store_imports_nothing_above_it_and_no_two_stats_modules_import_each_other():
    """Issue #26: the store held the study's rules and imported `evalkit.study` (the one arrow pointing up), and
    stats/clustered and stats/preference imported each other."""
    store = {str(p.relative_to(ROOT)): m for p in (ROOT / "evalkit" / "store").glob("*.py") for m in _imports(p)
             if m.startswith(("evalkit.study", "evalkit.report", "evalkit.judging", "evalkit.systems", "evalkit.generate"))}
    assert store == {}
    stats = {p.stem: {m.rsplit(".", 1)[1] for m in _imports(p) if m.startswith("evalkit.stats.")}
             for p in (ROOT / "evalkit" / "stats").glob("*.py")}
    assert [(a, b) for a in stats for b in stats[a] if a in stats.get(b, set())] == []
