"""The questions a trial asks, declared once: the page draws its radio groups from this registry, the study store
accepts exactly these answers, and the exports, exclusions and report find the primary question here.

A question's ``criterion`` is also the name LLM-judge rubrics use for the same question (rubrics/*.yaml
``criterion:``), so judge–human agreement pairs a rubric with its question by name. Adding a question: built in, one
entry in ``BUILT_IN``; from another package, a `Question` listed under the ``evalkit.study_questions`` entry points
(read when the page is drawn and when an answer is saved). For simulated raters, add its rule in study/simulate.py.
Plus its test (tests/study/test_app.py follows the recipe with a toy question). Add questions before a study opens:
answers saved before a question existed have no answer to it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from evalkit.plugins import entry_point_objects

ENTRY_POINT_GROUP = "evalkit.study_questions"


@dataclass(frozen=True)
class Question:
    criterion: str  # the stored name (Preference.criterion) and the matching rubrics' criterion
    text: str  # what the page asks


BUILT_IN = (Question("specificity", "Which advice is more specific?"),
            Question("helpfulness", "Which advice would you rather follow?"))
QUESTIONS = BUILT_IN  # the built-in questions (study_questions() adds those of installed packages)
# The question gold trials check and the primary human contrasts test: the advice a producer would act on.
PRIMARY = "helpfulness"


@functools.cache
def _plugins() -> tuple[Question, ...]:
    return tuple(entry_point_objects(ENTRY_POINT_GROUP, Question))


def study_questions() -> tuple[Question, ...]:
    """The built-in questions, then those of installed packages, in that order (each criterion once)."""
    out: dict[str, Question] = {}
    for q in (*BUILT_IN, *_plugins()):
        out.setdefault(q.criterion, q)
    return tuple(out.values())


def criteria() -> tuple[str, ...]:
    return tuple(q.criterion for q in study_questions())


__all__ = ["BUILT_IN", "ENTRY_POINT_GROUP", "PRIMARY", "QUESTIONS", "Question", "criteria", "study_questions"]
