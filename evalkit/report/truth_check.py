"""Is the truth what listeners hear? The engineers' consensus, checked against real ratings and comments.

The whole experiment scores advice against a *truth*: for imported sets, the engineers' consensus balance
(the median over mixes). MixologyDB lets us check that instrument against people, with no audio:

1. Each mix's stem levels (``evalkit/data/mixology_levels.py``) against a **leave-one-out consensus**: the median
   of the *other* engineers' mixes of the song. Its deviation d_s = L_s − C_s with the common level removed
   (minus the median over stems, the reference judge's centring); its **distance** = RMS_s d~_s.
2. **Ratings.** The within-song correlation of a mix's distance with its mean listener rating: both are centred
   within their song, so songs that are simply liked more do not count; r is the slope of the standardised
   rating on the standardised distance, and its CI is cluster-robust with songs as clusters (CV3 jackknife, t with G − 1
   df). If the truth is right, mixes farther from it are rated lower: r < 0.
3. **Comments.** Every comment is read into level claims by the reference judge's reader; a claim agrees with
   the truth when it asks to move the stem toward the consensus ("drums too quiet" and the mix's drums sit below
   it). Agreement rate overall, per stem and by |deviation| band, CI clustered by mix. Chance is 0.5.

Below ``MIN_CLUSTERS`` clusters no interval is drawn: a CI from so few is not one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from evalkit.data.mixology_levels import MixLevels, read_mix_levels
from evalkit.judging.advice_parser import PARSER_VERSION, parse_advice
from evalkit.stats.clustered import cluster_robust_mean
from evalkit.stats.intervals import MIN_CLUSTERS_FOR_INTERVAL as MIN_CLUSTERS
from evalkit.stats.intervals import too_few_clusters

BANDS_DB = (0.0, 1.0, 2.0, 3.0)
CHANCE = 0.5


@dataclass
class Deviation:
    song: str
    mix: str
    deviation_db: dict[str, float]  # d~_s
    distance_db: float
    mean_rating: float | None
    n_ratings: int


def deviations(mixes: list[MixLevels]) -> list[Deviation]:
    """Each mix against the median of the other mixes of its song (songs with one mix have no consensus)."""
    by_song: dict[str, list[MixLevels]] = {}
    for m in mixes:
        by_song.setdefault(m.song, []).append(m)
    out = []
    for song, group in by_song.items():
        for m in group:
            others = [o for o in group if o is not m]
            d = {s: m.levels_db[s] - float(np.median([o.levels_db[s] for o in others if s in o.levels_db]))
                 for s in m.levels_db if any(s in o.levels_db for o in others)}
            if not d:
                continue
            shift = float(np.median(list(d.values())))
            d = {s: v - shift for s, v in d.items()}
            ratings = [e.rating for e in m.evaluations if e.rating is not None]
            out.append(Deviation(song, m.mix, d, float(np.sqrt(np.mean(np.square(list(d.values()))))),
                                 float(np.mean(ratings)) if ratings else None, len(ratings)))
    return out


def _interval(est: dict, n_clusters: int, what: str) -> tuple[list[float] | None, str | None]:
    if n_clusters < MIN_CLUSTERS:
        return None, too_few_clusters(n_clusters, what)
    return [est["ci_low"], est["ci_high"]], None


def rating_correlation(devs: list[Deviation]) -> dict:
    """Pooled within-song Pearson r of distance and mean rating, with a CI that treats songs as clusters."""
    rows = [d for d in devs if d.mean_rating is not None]
    songs = np.array([d.song for d in rows])
    x = np.array([d.distance_db for d in rows])
    y = np.array([d.mean_rating for d in rows])
    for s in set(songs):  # centre within song
        x[songs == s] -= x[songs == s].mean()
        y[songs == s] -= y[songs == s].mean()
    if len(rows) < 3 or x.std() == 0 or y.std() == 0:
        return {"r": None, "ci": None, "note": "too few mixes with ratings for a correlation", "n_mixes": len(rows),
                "n_songs": len(set(songs))}
    zx, zy = x / x.std(), y / y.std()
    r = float(np.mean(zx * zy))
    # The slope of zy on zx is r; its CV3 SE by song (the mean of the linearised
    # score zx·(zy − r·zx), jackknifed over songs), t with G − 1 df.
    est = cluster_robust_mean(zx * (zy - r * zx) / np.mean(zx * zx) + r, songs)
    ci, note = _interval(est, est["n_clusters"], "songs")
    ci = [float(np.clip(c, -1, 1)) for c in ci] if ci else None
    return {"r": r, "ci": ci, "note": note, "p_value": est["p_value"] if ci else None, "n_mixes": len(rows),
            "n_songs": int(est["n_clusters"])}


def comment_claims(mixes: list[MixLevels], devs: list[Deviation]) -> list[dict]:
    """Every level claim in every comment, beside the mix's deviation for that stem."""
    dev_of = {(d.song, d.mix): d for d in devs}
    out = []
    for m in mixes:
        d = dev_of.get((m.song, m.mix))
        if d is None:
            continue
        for k, e in enumerate(m.evaluations):
            for c in parse_advice(e.comment).claims if e.comment else []:
                if c.stem not in d.deviation_db or d.deviation_db[c.stem] == 0:
                    continue
                dev = d.deviation_db[c.stem]
                out.append({"song": m.song, "mix": m.mix, "comment": k, "stem": c.stem, "direction": c.direction,
                            "deviation_db": dev, "agrees": (c.direction == "up") == (dev < 0)})
    return out


def agreement(claims: list[dict], label: str) -> dict:
    """Share of claims that agree with the truth, CI clustered by mix."""
    if not claims:
        return {"group": label, "claims": 0, "mixes": 0, "agreement": None, "ci": None, "note": "no claims"}
    est = cluster_robust_mean([float(c["agrees"]) for c in claims], [f"{c['song']}/{c['mix']}" for c in claims])
    ci, note = _interval(est, est["n_clusters"], "mixes")
    return {"group": label, "claims": len(claims), "mixes": int(est["n_clusters"]), "agreement": est["mean"],
            "ci": [float(np.clip(v, 0, 1)) for v in ci] if ci else None, "note": note}


def _band_note(bands: list[dict]) -> str:
    """Where the overall agreement is near chance, whether larger deviations are heard: the smallest band above chance."""
    above = [b for b in bands[1:] if b["ci"] and b["ci"][0] > CHANCE]
    if not above:
        return ""
    b = above[0]
    return (f" Where the mix deviates more ({b['group']} from the consensus), comments agree in {b['agreement']:.0%} of {b['claims']} claims "
            f"(CI {b['ci'][0]:.0%}–{b['ci'][1]:.0%}), above chance: listeners hear larger departures from the consensus, "
            "small ones hardly at all.")


def verdict(rating: dict, comments: dict, bands: list[dict] | None = None) -> str:
    """The result in words, strong or weak as the numbers are."""
    parts = []
    a, ci = comments["agreement"], comments["ci"]
    if a is None:
        parts.append("No comment made a level claim the check could score.")
    elif ci is None:
        parts.append(f"Comments agree with the truth in {a:.0%} of {comments['claims']} claims, from too few mixes for an interval.")
    elif ci[0] > CHANCE:
        parts.append(f"Listeners' comments ask to move a stem toward the engineers' consensus in {a:.0%} of {comments['claims']} "
                     f"level claims (95% CI {ci[0]:.0%}–{ci[1]:.0%}), more often than chance (50%): the truth points the way "
                     "listeners hear.")
    elif ci[1] < CHANCE:
        parts.append(f"Listeners' comments ask to move stems *away* from the consensus more often than toward it ({a:.0%}, "
                     f"CI {ci[0]:.0%}–{ci[1]:.0%}): the truth contradicts what listeners hear.")
    else:
        parts.append(f"Comments agree with the truth in {a:.0%} of {comments['claims']} claims (CI {ci[0]:.0%}–{ci[1]:.0%}), "
                     "not distinguishable from chance: on this data the truth is weak as a guide to what listeners ask for."
                     + _band_note(bands or []))
    r, rci = rating["r"], rating["ci"]
    if r is None:
        parts.append("Ratings: " + rating["note"] + ".")
    elif rci is None:
        parts.append(f"Mixes farther from the consensus: within-song r = {r:+.2f} with their ratings; {rating['note']}.")
    elif rci[1] < 0:
        parts.append(f"Mixes farther from the consensus are rated lower (within-song r = {r:+.2f}, CI {rci[0]:+.2f} to {rci[1]:+.2f}).")
    elif rci[0] > 0:
        parts.append(f"Mixes farther from the consensus are rated *higher* (r = {r:+.2f}, CI {rci[0]:+.2f} to {rci[1]:+.2f}): "
                     "distance from the consensus does not measure a worse balance.")
    else:
        parts.append(f"Ratings show no clear link to the distance from the consensus (within-song r = {r:+.2f}, CI {rci[0]:+.2f} "
                     f"to {rci[1]:+.2f}): a null that says the truth is weak as a predictor of how much listeners like a mix.")
    return " ".join(parts)


def check_truth(path: str | Path, stem_map: dict[str, str] | None = None) -> dict:
    """The whole check on one MixologyDB-layout file, as the ``truth_check.json`` document."""
    mixes = read_mix_levels(path, stem_map)
    devs = deviations(mixes)
    claims = comment_claims(mixes, devs)
    rating = rating_correlation(devs)
    overall = agreement(claims, "all")
    by_stem = [agreement([c for c in claims if c["stem"] == s], s) for s in sorted({c["stem"] for c in claims})]
    bands = [agreement([c for c in claims if abs(c["deviation_db"]) >= b], f"deviation ≥ {b:g} dB") for b in BANDS_DB]
    return {
        "source": str(path), "reader_version": PARSER_VERSION, "min_clusters_for_interval": MIN_CLUSTERS,
        "n_mixes": len(devs), "n_songs": len({d.song for d in devs}), "n_ratings": sum(d.n_ratings for d in devs),
        "n_comments": sum(1 for m in mixes for e in m.evaluations if e.comment.strip()),
        "rating_r": rating["r"], "rating_r_ci": rating["ci"], "rating_r_note": rating["note"], "rating_mixes": rating["n_mixes"],
        "comment_claims": overall["claims"], "comment_agreement": overall["agreement"], "comment_agreement_ci": overall["ci"],
        "comment_agreement_note": overall["note"], "agreement_by_stem": by_stem, "agreement_by_band": bands,
        "verdict": verdict(rating, overall, bands), "mixes": [asdict(d) for d in devs], "claims": claims,
    }


def _fmt_ci(ci: list[float] | None, note: str | None, pct: bool = False) -> str:
    if ci is None:
        return f"– ({note})" if note else "–"
    return f"{ci[0]:.0%}–{ci[1]:.0%}" if pct else f"{ci[0]:+.2f} to {ci[1]:+.2f}"


def headline_rows(doc: dict) -> list[dict]:
    """The two headline measures as table rows (the report's truth-check table)."""
    return [{"measure": "within-song r: distance from consensus vs mean rating", "estimate": doc["rating_r"],
             "ci_low": (doc["rating_r_ci"] or [None])[0], "ci_high": (doc["rating_r_ci"] or [None, None])[1],
             "n": f"{doc['rating_mixes']} mixes, {doc['n_songs']} songs", "note": doc["rating_r_note"] or ""},
            {"measure": "comment claims agreeing with the truth (chance 0.5)", "estimate": doc["comment_agreement"],
             "ci_low": (doc["comment_agreement_ci"] or [None])[0], "ci_high": (doc["comment_agreement_ci"] or [None, None])[1],
             "n": f"{doc['comment_claims']} claims, {doc['n_mixes']} mixes", "note": doc["comment_agreement_note"] or ""}]


def agreement_rows(doc: dict) -> list[dict]:
    return [{"group": g["group"], "claims": g["claims"], "mixes": g["mixes"], "agreement": g["agreement"],
             "ci_low": (g["ci"] or [None])[0], "ci_high": (g["ci"] or [None, None])[1], "note": g["note"] or ""}
            for g in doc["agreement_by_stem"] + doc["agreement_by_band"]]


def summary_markdown(doc: dict) -> str:
    r = "–" if doc["rating_r"] is None else f"{doc['rating_r']:+.2f}"
    a = "–" if doc["comment_agreement"] is None else f"{doc['comment_agreement']:.0%}"
    lines = [
        "# Truth check: the engineers' consensus against real listeners", "",
        f"Source: `{doc['source']}`: {doc['n_mixes']} mixes of {doc['n_songs']} songs, {doc['n_ratings']} ratings, "
        f"{doc['n_comments']} comments (reader version {doc['reader_version']}).", "",
        f"**Verdict.** {doc['verdict']}", "",
        "| measure | estimate | 95% CI | n |", "|---|---|---|---|",
        f"| within-song r, distance from consensus vs mean rating | {r} | {_fmt_ci(doc['rating_r_ci'], doc['rating_r_note'])} | "
        f"{doc['rating_mixes']} mixes |",
        f"| comment claims agreeing with the truth (chance 50%) | {a} | "
        f"{_fmt_ci(doc['comment_agreement_ci'], doc['comment_agreement_note'], pct=True)} | {doc['comment_claims']} claims |", "",
        "| comment claims | claims | mixes | agreement | 95% CI (clustered by mix) |", "|---|---|---|---|---|",
    ]
    for g in doc["agreement_by_stem"] + doc["agreement_by_band"]:
        agree = "–" if g["agreement"] is None else f"{g['agreement']:.0%}"
        lines.append(f"| {g['group']} | {g['claims']} | {g['mixes']} | {agree} | {_fmt_ci(g['ci'], g['note'], pct=True)} |")
    lines += ["", "Method: each mix's stem levels (track loudness + fader, power-summed, relative to the mix) minus the median of the "
              "song's other mixes, common level removed (median over stems); distance = RMS of that deviation. r: ratings and "
              "distances centred within song, CI cluster-robust by song (CV3 jackknife, t with G − 1 df). Comments: read by the reference "
              f"judge's reader; a claim agrees when it moves the stem toward the consensus. No interval from fewer than "
              f"{doc['min_clusters_for_interval']} clusters.", ""]
    return "\n".join(lines)


def write_truth_check(doc: dict, out: str | Path) -> dict[str, Path]:
    """``truth_check.json``, ``truth_check.md`` and the two figures into ``out``."""
    from evalkit.report import figures

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "truth_check.json", "markdown": out / "truth_check.md"}
    paths["json"].write_text(json.dumps(doc, indent=1, default=float) + "\n")
    paths["markdown"].write_text(summary_markdown(doc))
    paths["distance_vs_rating"] = figures.distance_vs_rating(doc["mixes"], out)
    paths["agreement_by_band"] = figures.agreement_by_band(doc["agreement_by_band"], doc["agreement_by_stem"], out)
    return paths


__all__ = ["agreement_rows", "check_truth", "deviations", "headline_rows", "rating_correlation", "summary_markdown",
           "write_truth_check"]
