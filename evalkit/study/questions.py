"""The questions a trial asks, declared once: the page draws its radio groups from this list, the study store accepts
exactly these answers, and the exports, exclusions and report find the primary question here.

A question's ``criterion`` is also the name LLM-judge rubrics use for the same question (rubrics/*.yaml
``criterion:``), so judge–human agreement pairs a rubric with its question by name. Adding a question: one entry
here (and, for simulated raters, its rule in study/simulate.py), plus its test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    criterion: str  # the stored name (Preference.criterion) and the matching rubrics' criterion
    text: str  # what the page asks


QUESTIONS = (Question("specificity", "Which advice is more specific?"),
             Question("helpfulness", "Which advice would you rather follow?"))
# The question gold trials check and the primary human contrasts test: the advice a producer would act on.
PRIMARY = "helpfulness"
CRITERIA = tuple(q.criterion for q in QUESTIONS)

__all__ = ["CRITERIA", "PRIMARY", "QUESTIONS", "Question"]
