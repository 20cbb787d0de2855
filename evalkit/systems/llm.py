"""An LLM advisor: a back end plus a condition template (features as tables, or audio parts)."""

from __future__ import annotations

from pathlib import Path

from evalkit.audio.io import write_audio
from evalkit.audio.render import mixdown
from evalkit.backends.base import Backend, GenerationRequest, create_backend
from evalkit.errors import ConfigError
from evalkit.prompts import render_messages, template_hash
from evalkit.records import Condition, Item
from evalkit.systems.base import AdviceSystem


def open_backend(config) -> Backend:
    opts = config.backend.model_dump()
    return create_backend(opts.pop("name"), **opts)


class LLMSystem(AdviceSystem):
    def __init__(self, config, testset, condition=None, audio_dir: Path | None = None, backend: Backend | None = None) -> None:
        super().__init__(config, testset, condition)
        self.backend: Backend = backend or open_backend(config)
        if config.representation == "audio" and not self.backend.supports_audio:
            raise ConfigError(f"system {config.name!r}: representation audio needs a back end that takes audio "
                              f"({self.backend.name} with this model does not); use representation: features")
        self.audio_dir = audio_dir
        self.prompt_version = template_hash(self.condition)

    @classmethod
    def from_config(cls, config, testset, condition=None, *, run_dir: Path | None = None, backend: Backend | None = None) -> LLMSystem:
        return cls(config, testset, condition, audio_dir=(run_dir / "inputs") if run_dir else None, backend=backend)

    def _audio_paths(self, item: Item, reference_song: str | None) -> list[str]:
        """Write the item's inputs as WAV: the problem mix, or the problem stems, and with a reference the
        reference track's stems, grouped (all problem stems, then all reference stems) or interleaved per stem."""
        if self.audio_dir is None:
            raise ConfigError(f"system {self.name!r}: representation audio needs a run directory for its input files")
        stems, sr = self.testset.stems(item.song_id)
        d = self.audio_dir / item.id
        if self.condition == Condition.mix:
            return [str(write_audio(d / "mix.wav", mixdown(stems, item.offsets_db), sr))]
        mine = [str(write_audio(d / f"{s}.wav", x * 10 ** (item.offsets_db.get(s, 0) / 20), sr)) for s, x in stems.items()]
        if reference_song is None:
            return mine
        ref_stems, ref_sr = self.testset.stems(reference_song)
        ref = {s: str(write_audio(d / f"reference_{reference_song}_{s}.wav", ref_stems[s], ref_sr)) for s in stems if s in ref_stems}
        if self.config.effective_layout == "interleaved":
            return [p for s, m in zip(stems, mine, strict=True) for p in ([m, ref[s]] if s in ref else [m])]
        return mine + list(ref.values())

    def request(self, item: Item) -> GenerationRequest:
        audio = self._audio_paths(item, self.reference_song(item)) if self.config.representation == "audio" else None
        return GenerationRequest(messages=advisor_messages(self, item, audio), max_tokens=self.config.max_tokens,
                                 temperature=self.config.temperature, seed=self.config.seed, key=f"{item.id}/{self.condition.value}")


def advisor_messages(system: AdviceSystem, item: Item, audio_paths: list[str] | None = None) -> list[dict]:
    """The chat an advisor is shown for ``item`` under ``system``'s condition: one function for evaluation and for
    fine-tuning (evalkit/training), so a tuned model is trained on exactly the prompts it is evaluated with."""
    ts = system.testset
    reference_song = system.reference_song(item)
    reference = ts.reference_features(reference_song) if reference_song else None
    reference_meta = ts.songs[reference_song].meta if reference_song else None
    return render_messages(system.condition, features=ts.features(item), reference=reference, meta=ts.songs[item.song_id].meta,
                           representation=system.config.representation, audio_paths=audio_paths,
                           layout=system.config.effective_layout, reference_meta=reference_meta)


__all__ = ["LLMSystem", "advisor_messages", "open_backend"]
