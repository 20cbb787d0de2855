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


def _module_graph(*, lazy: bool) -> dict[str, set[str]]:
    """evalkit's modules and the evalkit modules each imports: at import time (module level), or also inside functions
    (``lazy``). Imports under ``if TYPE_CHECKING:`` are for annotations and never run."""
    names = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in SOURCES}
    graph = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(x) for n in ast.walk(tree) if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
                       for b in n.body for x in ast.walk(b)}
        deps = set()
        for node in (ast.walk(tree) if lazy else tree.body):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("evalkit"):
                deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in names else node.module for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = {d for d in deps if d in names and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan): each holds an import cycle."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while not comp or v not in comp:
                comp.add(stack.pop())
            on.difference_update(comp)
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_modules():
    """Issue #26: no two modules import each other at import time, directly or around a loop. Imports inside functions
    may close a loop only where the data model itself is circular: a reference judge's options name an LLM reader,
    which is a judge preset, and a judge preset holds reference options (judging/reference.py loads the reader's
    preset when its hash is first needed). Any other loop fails here, lazy or not."""
    assert _cycles(_module_graph(lazy=False)) == []
    assert _cycles(_module_graph(lazy=True)) in ([], [{"evalkit.judging.reference", "evalkit.judging.rubrics"}])
    # the checker itself finds a loop
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_every_registry_has_a_toy_addition_test():
    """Issue #26: each extension point with entry points (back ends, system kinds, judge protocols, study questions,
    report sections) has a test that adds a toy one through its entry-point group and uses it."""
    groups = {}
    for p in SOURCES:
        found = re.search(r'^ENTRY_POINT_GROUP = "([\w.]+)"', p.read_text(), re.M)
        if found:
            groups[found.group(1)] = ".".join(p.relative_to(ROOT).with_suffix("").parts)
    assert set(groups) >= {"evalkit.backends", "evalkit.system_kinds", "evalkit.judge_protocols", "evalkit.study_questions",
                           "evalkit.report_sections"}
    tests = [p.read_text() for p in (ROOT / "tests").rglob("test_*.py")]
    untested = [g for g, module in groups.items() if not any(
        module.rsplit(".", 1)[1] in t and "ENTRY_POINT_GROUP" in t and "EntryPoint(" in t for t in tests)]
    assert untested == []
