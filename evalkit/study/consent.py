"""The consent page's text: the researcher's own Markdown file, checked for what an ethics board asks.

A file that does not name the researcher, the ethics reference, a contact and how to withdraw is
refused at `study create` (exit 2), so a study never goes live with a consent page missing them.
Without a file, the bundled example is used and flagged as such everywhere the study is shown.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from evalkit.errors import EvalkitInputError

REQUIRED_TOPICS = {
    "the researcher": ("researcher", "investigator"),
    "the ethics reference": ("ethic", "irb", "review board"),
    "a contact": ("contact", "@"),
    "how to withdraw": ("withdraw",),
}


def missing_topics(text: str) -> list[str]:
    low = text.lower()
    return [topic for topic, words in REQUIRED_TOPICS.items() if not any(w in low for w in words)]


def install_consent(source: str | Path | None, study_dir: Path) -> dict:
    """Copy the consent text to ``study_dir/consent.md``; returns the study.json fields about it."""
    if source is None:
        text = resources.files("evalkit.study").joinpath("consent_example.md").read_text(encoding="utf-8")
        example = True
    else:
        path = Path(source)
        if not path.is_file():
            raise EvalkitInputError(f"--consent {path}: no such file; give the Markdown file participants read before they agree")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise EvalkitInputError(f"--consent {path}: cannot read it as UTF-8 text ({exc}); save it as UTF-8 Markdown") from exc
        missing = missing_topics(text)
        if missing:
            raise EvalkitInputError(f"--consent {path}: does not mention {', '.join(missing)}; "
                                    "add them (an ethics board will ask) and run `study create` again")
        example = False
    (study_dir / "consent.md").write_text(text, encoding="utf-8")
    return {"consent_file": "consent.md", "consent_is_example": example}


__all__ = ["REQUIRED_TOPICS", "install_consent", "missing_topics"]
