"""Advice systems that need no model, so the whole pipeline runs anywhere.

- ``analytic`` works under every condition with exactly what that condition shows (see
  ``AnalyticSystem``), so a condition contrast compares one advisor with itself.
- ``oracle`` knows the truth (upper bound) and ``generic`` gives the same advice for every item
  (lower bound): labelled bounds, never part of a condition contrast.

Their advice is varied natural text (phrasings drawn per item from a seeded RNG), not a fixed format,
so the advice parser and the judges meet realistic language.
"""

from __future__ import annotations

import zlib

import numpy as np

from evalkit.data.reference_pool import reference_pool
from evalkit.errors import ConfigError
from evalkit.records import DISTURBED_DB, Condition, Item
from evalkit.systems.base import AdviceSystem

STEM_WORDS = {
    "drums": ["drums", "drum bus", "kit", "drums"],
    "bass": ["bass", "bass guitar", "bassline", "bass"],
    "other": ["guitars and keys", "accompaniment", "instruments (the 'other' stem)", "other stem"],
    "vocals": ["vocals", "lead vocal", "voice", "vocal"],
}
UP = ["raise {s} by {d} dB", "bring {s} up {d} dB", "push {s} up by about {d} dB", "turn {s} up {d} dB", "boost {s} by {d} dB"]
DOWN = ["lower {s} by {d} dB", "pull {s} down {d} dB", "cut {s} by about {d} dB", "bring {s} down {d} dB", "turn {s} down by {d} dB"]
PLURAL = {"drums", "guitars and keys", "instruments (the 'other' stem)", "vocals"}  # agreement: "the drums sit", "the bass sits"
WHY_UP = ["I can barely hear the {w}", "there isn't enough of the {w} in the balance", "the {w} {sit} too low"]
WHY_DOWN = ["there's too much of the {w}", "everything else is fighting the {w}", "the {w} {sit} too high"]
OPENERS = ["", "Here's what I'd change. ", "Listening to the balance: ", "Quick fixes: ", "A few moves. "]
LEAVE = ["Leave the {s} as is.", "The {s} {sit} fine; leave {them}.", "Keep the {s} where {they} {are}."]


def _rng(item: Item, system: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{system}:{item.id}".encode()))


def _fmt_db(v: float) -> str:
    return f"{abs(v):g}"


def phrase_corrections(corrections: dict[str, float], rng: np.random.Generator, explain: bool = True) -> str:
    """Natural advice text for ``corrections`` (stem -> dB; zero means leave it)."""
    moves = sorted(((s, v) for s, v in corrections.items() if abs(v) >= DISTURBED_DB), key=lambda m: -abs(m[1]))
    if not moves:
        return str(rng.choice(["The balance already works; leave every stem where it is.",
                               "Nothing needs to move here. Leave the levels as they are.",
                               "This mix is balanced. I wouldn't touch the faders."]))
    sentences = []
    for s, v in moves:
        word = str(rng.choice(STEM_WORDS[s]))
        tmpl = str(rng.choice(UP if v > 0 else DOWN))
        sentence = tmpl.format(s=f"the {word}", d=_fmt_db(v))
        if explain and rng.random() < 0.5:
            why = str(rng.choice(WHY_UP if v > 0 else WHY_DOWN)).format(w=word, sit="sit" if word in PLURAL else "sits")
            sentence = f"{why}, so {sentence}"
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
    still = [s for s in corrections if abs(corrections[s]) < DISTURBED_DB]
    if still and rng.random() < 0.6:
        plural = len(still) > 1 or STEM_WORDS[still[0]][0] in PLURAL
        sentences.append(str(rng.choice(LEAVE)).format(s=" and ".join(STEM_WORDS[s][0] for s in still),
                                                       sit="sit" if plural else "sits", them="them" if plural else "it",
                                                       they="they" if plural else "it", are="are" if plural else "is"))
    return str(rng.choice(OPENERS)) + " ".join(sentences)


def _round_half(v: float) -> float:
    return round(v * 2) / 2


class OracleSystem(AdviceSystem):
    """Upper bound: reads the true correction. A labelled bound, never part of a condition contrast."""

    def advise(self, item: Item) -> str:
        return phrase_corrections({s: _round_half(v) for s, v in item.correction_db.items()}, _rng(item, self.name))


class GenericSystem(AdviceSystem):
    """Lower bound: the same advice for every item."""

    TEXT = ("Balance the mix by ear: make sure the vocals sit on top, the kick and bass work together, and nothing "
            "masks the lead. Adjust the faders until it sounds right on several speakers.")

    def advise(self, item: Item) -> str:
        return self.TEXT


def relative_balance(f: dict) -> dict[str, float]:
    """Each stem's loudness relative to the mean of the audible stems (LU): a balance, free of overall level."""
    stems = [k for k in f if k != "mix" and np.isfinite(f[k].loudness_lufs)]
    mean = np.mean([f[s].loudness_lufs for s in stems])
    return {s: (f[s].loudness_lufs - mean) if s in stems else np.nan for s in f if s != "mix"}


class AnalyticSystem(AdviceSystem):
    """One analytic advisor that uses exactly what its condition shows.

    - ``mix``: a ridge regression, fitted on the train split, from the mix's octave-band profile to
      per-stem offsets (it never sees a stem);
    - ``stems``: each stem's loudness relative to the others, against the pool's typical balance
      (mean over the train songs' balanced mixes);
    - ``stems+reference``: the same relative loudness against the reference track's balance (another
      song from the pool, chosen per item);
    - ``stems+own-reference``: against the item's own balanced song — the labelled upper bound.
    """

    stems_threshold_db = 2.0
    mix_threshold_db = 2.5
    ridge = 3.0

    def __init__(self, config, testset, condition=None) -> None:
        super().__init__(config, testset, condition)
        if self.condition == Condition.mix:
            self._fit_mix_regression()
        elif self.condition == Condition.stems:
            pool = reference_pool(testset.songs, testset.items)
            if not pool:
                raise ConfigError(f"system {config.name!r} under stems needs train-split songs for its typical balance; "
                                  "the test set has none")
            rows = [relative_balance(testset.reference_features(sid)) for sid in pool]
            self.typical = {s: float(np.nanmean([r[s] for r in rows])) for s in rows[0]}

    # -- mix only ----------------------------------------------------------------------------
    def _fit_mix_regression(self) -> None:
        train = self.testset.split("train")
        if not train:
            raise ConfigError(f"system {self.name!r} under mix fits on train-split items; the test set has none")
        self.stems = sorted(train[0].offsets_db)
        X = np.array([self._profile(i) for i in train])
        Y = np.array([[i.offsets_db[s] for s in self.stems] for i in train])
        self.mu = X.mean(axis=0)
        Xc = X - self.mu
        self.W = np.linalg.solve(Xc.T @ Xc + self.ridge * np.eye(X.shape[1]), Xc.T @ (Y - Y.mean(axis=0)))
        self.y_mean = Y.mean(axis=0)

    def _profile(self, item: Item) -> np.ndarray:
        bands = np.array(self.testset.features(item)["mix"].octave_band_db)
        return bands - bands.mean()

    def _estimate_from_mix(self, item: Item) -> dict[str, float]:
        pred = (self._profile(item) - self.mu) @ self.W + self.y_mean
        return {s: _round_half(-p) if abs(p) >= self.mix_threshold_db else 0.0 for s, p in zip(self.stems, pred, strict=True)}

    # -- stems against a target balance ----------------------------------------------------------
    def _target(self, item: Item) -> dict[str, float]:
        if self.condition == Condition.stems:
            return self.typical
        return relative_balance(self.testset.reference_features(self.reference_song(item)))

    def _estimate_from_stems(self, item: Item) -> dict[str, float]:
        rel = relative_balance(self.testset.features(item))
        target = self._target(item)
        raw = {s: target[s] - v for s, v in rel.items() if np.isfinite(v) and np.isfinite(target.get(s, np.nan))}
        if not raw:
            return {}
        anchor = float(np.median(list(raw.values())))  # most stems are usually fine: anchor on the median
        return {s: _round_half(v - anchor) if abs(v - anchor) >= self.stems_threshold_db else 0.0 for s, v in raw.items()}

    def estimate(self, item: Item) -> dict[str, float]:
        if self.condition == Condition.mix:
            return self._estimate_from_mix(item)
        return self._estimate_from_stems(item)

    def advise(self, item: Item) -> str:
        return phrase_corrections(self.estimate(item), _rng(item, f"{self.name}/{self.condition.value}"))


ANALYTIC = {"oracle": OracleSystem, "generic": GenericSystem, "analytic": AnalyticSystem}

__all__ = ["ANALYTIC", "AnalyticSystem", "GenericSystem", "OracleSystem", "phrase_corrections", "relative_balance"]
