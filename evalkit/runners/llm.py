"""An LLM advisor: a back end plus a condition template (features as tables, or audio parts)."""

from __future__ import annotations

from pathlib import Path

from evalkit.audio.io import write_audio
from evalkit.audio.render import mixdown
from evalkit.backends.base import Backend, GenerationRequest, create_backend
from evalkit.errors import ConfigError
from evalkit.prompts import render_messages, template_hash
from evalkit.records import Condition, Item
from evalkit.runners.base import AdviceSystem


class LLMSystem(AdviceSystem):
    def __init__(self, config, testset, audio_dir: Path | None = None) -> None:
        super().__init__(config, testset)
        opts = config.backend.model_dump()
        self.backend: Backend = create_backend(opts.pop("name"), **opts)
        if config.representation == "audio" and not self.backend.supports_audio:
            raise ConfigError(f"system {config.name!r}: representation audio needs a back end that takes audio "
                              f"({self.backend.name} with this model does not); use representation: features")
        self.audio_dir = audio_dir
        self.prompt_version = template_hash(config.condition)

    def _audio_paths(self, item: Item) -> list[str]:
        """Write the item's inputs as WAV (problem mix, or problem stems [+ reference stems])."""
        assert self.audio_dir is not None
        stems, sr = self.testset.stems(item.song_id)
        d = self.audio_dir / item.id
        if self.config.condition == Condition.mix:
            return [str(write_audio(d / "mix.wav", mixdown(stems, item.offsets_db), sr))]
        paths = [str(write_audio(d / f"{s}.wav", x * 10 ** (item.offsets_db.get(s, 0) / 20), sr)) for s, x in stems.items()]
        if self.config.condition == Condition.stems_reference:
            paths += [str(write_audio(d / f"reference_{s}.wav", x, sr)) for s, x in stems.items()]
        return paths

    def request(self, item: Item) -> GenerationRequest:
        song = self.testset.songs[item.song_id]
        audio = self._audio_paths(item) if self.config.representation == "audio" else None
        reference = self.testset.reference_features(item.song_id) if self.config.condition == Condition.stems_reference else None
        messages = render_messages(self.config.condition, features=self.testset.features(item), reference=reference,
                                   meta=song.meta, representation=self.config.representation, audio_paths=audio)
        return GenerationRequest(messages=messages, max_tokens=self.config.max_tokens, temperature=self.config.temperature,
                                 seed=self.config.seed, key=item.id)


__all__ = ["LLMSystem"]
