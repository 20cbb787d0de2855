"""`study.json`: what `evalkit study create` decided, as one validated record.

The app, the CLI, the simulator and the export read a study's settings through `StudyConfig` (attributes, not dict
keys), so a misspelt key is an error where the file is read, naming the file and the field, instead of a setting that
silently reads as unset on a participant's page.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evalkit.errors import EvalkitInputError


class HeadphoneClip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str = Field(description="the clip under stimuli/headphone/ (an opaque name)")
    answer: int = Field(ge=1, le=3, description="which of the three tones is the quiet one")


class StudyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    study_id: str
    run: str = Field(description="the run the advice came from (a directory, or a database URL without its password)")
    systems: list[str] = Field(description="the arms compared")
    items: list[str]
    ratings_per_pair: int = Field(ge=1)
    trials_per_participant: int = Field(ge=1)
    gold_per_participant: int = Field(ge=0)
    n_slots: int = Field(ge=1)
    after_audio: bool = False
    stems_audio: bool = False
    headphone_check: bool = True
    headphone_clips: list[HeadphoneClip] = Field(default_factory=list)
    completion_code: str | None = None
    completion_url: str | None = None
    screenout_code: str | None = None
    screenout_url: str | None = None
    listen_min_s: float | None = Field(3.0, ge=0, description="seconds each clip must be heard before answers unlock (None: off)")
    slot_timeout_min: float = Field(60.0, gt=0, description="minutes of silence after which a held slot goes to the next person")
    prolific_study_id: str | None = None
    store_url: str | None = Field(None, description="a PostgreSQL URL without its password (None: the study folder's SQLite)")
    seed: int = 0
    secret: str = Field(description="per study: seeds each participant's sound-check order and clip bytes")
    consent_file: str = "consent.md"
    consent_is_example: bool = False
    admin_token: str | None = Field(None, description="the admin page's token when EVALKIT_ADMIN_TOKEN is not set")

    @classmethod
    def load(cls, study_dir: str | Path) -> StudyConfig:
        path = Path(study_dir) / "study.json"
        if not path.exists():
            raise EvalkitInputError(f"{path}: not found; create the study with `evalkit study create`")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise EvalkitInputError(f"{path}: not valid JSON ({str(exc)[:80]}); restore it or recreate the study") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("study_id"), str) or not isinstance(doc.get("systems"), list):
            raise EvalkitInputError(f"{path}: not a study configuration (no study_id or systems); restore it or recreate the "
                                    "study with `evalkit study create`")
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise EvalkitInputError(f"{path}: field {field!r}: {err['msg']}; restore the file or recreate the study with "
                                    "`evalkit study create`") from exc

    def save(self, study_dir: str | Path) -> None:
        (Path(study_dir) / "study.json").write_text(json.dumps(self.model_dump(mode="json"), indent=2))


__all__ = ["HeadphoneClip", "StudyConfig"]
