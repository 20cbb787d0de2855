"""Advice text -> claims: which stem, which direction, by how many dB.

The reference judge rests on this. It reads clause by clause: a clause that names stems and a
direction (a verb such as "raise"/"cut", or a diagnosis such as "buried"/"too hot") becomes one claim
per stem, with the amount found in that clause ("3 dB", "+3dB", "2-3 dB" -> 2.5, "three dB",
"by half" ~ 6 dB, "slightly" -> no number). Negated moves ("don't raise the bass") and "leave X as
is" become leave-claims, never moves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Bumped whenever a change makes some text parse differently: the reference judge's version includes it, so
# judgments made by an older parser are redone instead of mixed with new ones.
PARSER_VERSION = 4

_NUMBER_WORDS = {
    "zero": 0, "half a": 0.5, "one": 1, "a single": 1, "two": 2, "a couple of": 2, "a couple": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
}
_STEMS: list[tuple[str, str]] = [
    (r"bass drums?|kick drums?|kicks?|snares?|hi-?hats?|hats|cymbals?|percussion|toms?|overheads|drum ?(?:bus|kit|stem|track)s?|drums?|(?:the )?kit\b|"
     r"ohs|oh(?=\s*(?:[lr]\b|left|right|mics?|pair|[+-]?\d))", "drums"),
    (r"bass guitars?|basslines?|bass lines?|sub ?bass|bass di|low[- ]end|bottom end|bass(?: stem| track)?", "bass"),
    (r"lead vocals?|backing vocals?|vocals?|vox|voices?|singers?|singing|lead vox|bgvs?|bvs?", "vocals"),
    (r"guitars?|gtrs?|keys|keyboards?|pianos?|synths?|synthesizers?|pads?|strings|organs?|accompaniment|instruments? \(the 'other' stem\)|"
     r"backing instruments?|"
     r"(?:the )?['\"]?other['\"]? (?:stem|track|instruments?)|(?:the )?other\b(?= (?:by|up|down|\d)|\s*:\s*[+-]?\d)", "other"),
]
_STEM_RE = [(re.compile(rf"\b(?:{pat})\b"), stem) for pat, stem in _STEMS]
_UP = r"rais\w*|boost\w*|nudg\w* (?:\w+ ){0,4}?up|(?:too )?far back|(?:brought|bring(?:ing)?) (?:\w+ ){0,3}?forward|(?:come|comes|coming) forward|barely (?:audible|there)|" \
      r"hardly (?:audible|hear)|inaudible|hard to hear|low\b(?![- ](?:end|pass))|quiet\b|" \
      r"bring(?:ing)? (?:\w+ ){0,4}?up|brought (?:\w+ ){0,4}?up|push\w*|turn\w* (?:\w+ ){0,4}?up|louder|increas\w*|lift\w*|add\b|more\b|buried|too (?:quiet|soft|low)|sits? too low|lost\b|distant|extra\b|barely hear|(?:can't|cannot|can not|couldn't|could not) (?:really )?hear|drowning$|drowning (?:in|under)\b|drowned(?: out)?(?! (?:out )?(?:the|a|an)\b)|not enough|lacks?|lacking|missing|needs? more|up\b"
_DOWN = r"lower\w*|cut\w*|drop\w*|tuck\w*|mut(?:e|ed|ing)\b|nudg\w* (?:\w+ ){0,4}?down|hot\b|(?:too )?far forward|" \
        r"too (?:prominent|present|dominant|upfront|in your face)|high\b(?![- ](?:end|pass))|loud\b|" \
        r"pull\w* (?:\w+ ){0,4}?(?:down|back)|bring(?:ing)? (?:\w+ ){0,4}?down|turn\w* (?:\w+ ){0,4}?down|attenuat\w*|quieter|reduc\w*|decreas\w*|tame\w*|back off|dial\w* (?:\w+ ){0,3}?back|too loud|too hot|too much|too high|sits? too high|overpower\w*|overwhelm\w*|dominat\w*|drown\w* (?:out )?(?:the|a|an|everything|all)\b|piercing|blaring|sticks? out|jumps? out|fighting|less\b|down\b"
_UP_RE, _DOWN_RE = re.compile(rf"\b(?:{_UP})"), re.compile(rf"\b(?:{_DOWN})")
_NEG_RE = re.compile(r"\b(?:don't|do not|dont|never|no need to|shouldn't|should not|avoid|wouldn't|would not|won't|not)\b(?:\s+\w+){0,3}?\s*$")
_LEAVE_RE = re.compile(r"\b(?:leave|keep|left|untouched|as (?:it|they) (?:is|are)|as is|fine|sits? (?:fine|well|right)|don't touch|do not touch|"
                       r"wouldn't touch|where (?:it|they) (?:is|are)|alone|no change|unchanged|doesn't need|don't need|good as)\b")
_RANGE_RE = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(?:-|–|to)\s*([+-]?\d+(?:\.\d+)?)\s*(?:db|decibels?)\b")
_DB_RE = re.compile(r"([+\-−]?\s?\d+(?:\.\d+)?)\s*(?:db|decibels?)\b")
_BARE_RE = re.compile(r"\b(?:up|down|by|boost|cut|raise|lower)\s+(?:about\s+|around\s+|roughly\s+)?(\d+(?:\.\d+)?)\b"
                      r"(?!\s*(?:%|x\b|times|bars?|beats?|hz|khz|ms|seconds?|s\b|db\b|decibels?|\.\d|-\s*\d))")
_SIGNED_BARE_RE = re.compile(r"(?<![\w.])([+-]\d+(?:\.\d+)?)\b"
                             r"(?!\s*(?:%|x\b|times|bars?|beats?|hz|khz|ms|seconds?|s\b|db\b|decibels?|\.\d|-\s*\d))")
_CORRECTION_RE = re.compile(r"\b(?:actually|make (?:that|it)|i mean|correction|scratch that|on second thought)\b")
_SAME_RE = re.compile(r"\b(?:by )?the same(?: amount)?\b")
_PRONOUN_RE = re.compile(r"\b(?:it|them|that|this|those|these|her|him)\b")
_LEAVE_ALL_RE = re.compile(r"\b(?:leave|keep|don't touch|do not touch|wouldn't touch|no change|nothing needs)\b")
_ALL_RE = re.compile(r"\b(?:every (?:stem|track|fader|level)|all (?:the )?(?:stems|tracks|faders|levels)|everything(?: else)?|"
                     r"(?:all )?the rest|all else|the (?:levels|faders|balance))\b")
_REST_RE = re.compile(r"\b(?:everything else|(?:all )?the rest|all else)\b")  # "the rest is fine": every stem not named
_ALL_STEMS = ("drums", "bass", "other", "vocals")
_STEM_TEXT = {"drums": "the drums", "bass": "the bass", "other": "the other stem", "vocals": "the vocals"}
# "everything except the vocals", "all the stems but the bass and drums": the stems named after the exception
_EXCEPT_RE = re.compile(r"\b(?:everything(?: else)?|all (?:the )?(?:other )?(?:stems|tracks|faders|instruments)|every (?:other )?(?:stem|track)|"
                        r"the rest)\s+(?:except(?: for)?|but|apart from|other than|besides|save)\s+(?P<named>.+?)"
                        r"(?=\s+(?:by|up|down|a bit|slightly|a touch|\d|-?\d)|[,;.]|$)")
# "..., not the other stem", "rather than the bass", "instead of the keys": stems set aside in a clause
_EXCLUDE_RE = re.compile(r"(?:,\s*|\s+)(?:but\s+)?(?:not|rather than|instead of)\s+(?P<named>.+)$")
_HALF_RE = re.compile(r"\b(?:by half|halve\w*|in half|half as loud)\b")
_DOUBLE_RE = re.compile(r"\b(?:double\w*|twice as loud)\b")
_SLIGHT_RE = re.compile(r"\b(?:slightly|a touch|a tad|a bit|a little|a hair|subtly|gently|a smidge)\b")
_CLAUSE_SPLIT = re.compile(
    r"(?<!\d)\.|\.(?!\d)|[;!?\n]+|\s+-\s+(?=[a-z])|,\s*(?:so|and|but|then|while|whereas)\s+|\s+(?:but|then|while|whereas)\s+|,\s+(?=(?:and\s+)?(?:" + _UP + "|" + _DOWN + r"|leave|keep|everything|(?:all )?the rest|all else)\b)"
    r"|\s+and\s+(?=(?:\w+\s+){0,2}?(?:" + _UP + "|" + _DOWN + r"|leave|keep)\b)")


@dataclass
class Claim:
    stem: str
    direction: str  # up | down
    db: float | None

    def signed_db(self, nominal: float = 3.0) -> float:
        """Gain change this claim asks for; a direction with no number counts as ``nominal`` dB."""
        mag = self.db if self.db is not None else nominal
        return mag if self.direction == "up" else -mag


@dataclass
class ParsedAdvice:
    claims: list[Claim] = field(default_factory=list)
    leave: list[str] = field(default_factory=list)
    hedged: list[str] = field(default_factory=list)  # stems whose move was "slightly" etc.

    @property
    def specificity(self) -> int:
        """Quantified, stem-specific instructions."""
        return sum(c.db is not None for c in self.claims)

    def gains(self, nominal: float = 3.0, slight: float = 1.5) -> dict[str, float]:
        return {c.stem: c.signed_db(slight if c.stem in self.hedged and c.db is None else nominal) for c in self.claims}

    def as_dict(self) -> dict:
        return {"claims": [{"stem": c.stem, "direction": c.direction, "db": c.db} for c in self.claims],
                "leave": self.leave, "specificity": self.specificity}


_EVERY_STEM_RE = re.compile(
    r"\b(?P<verb>raise|lower|boost|cut|increase|decrease|reduce|drop|lift|push|turn (?:up|down)|bring (?:up|down)|pull (?:down|back))\s+"
    r"(?:the (?:gain|level|volume|fader)s? (?:of|on)\s+)?(?:each stem|every stem|each of the stems|all (?:of )?(?:the )?(?:four )?stems|"
    r"all (?:the )?tracks|everything|the whole mix)\b(?!\s+(?:else|except|but|apart|other))")
# A sentence that explains what a move will do ("This will reduce the peak amplitude of the bass") is not a move.
_EXPLANATION_RE = re.compile(r"^\s*(?:this|that|which|doing so|these changes?|this change) (?:will|would|should|could|can|may|might|"
                             r"makes?|helps?|is because|means)\b|^\s*(?:because|so that)\b")


def _expand_every_stem(t: str) -> str:
    """"increase the gain of each stem by 10 db" -> a move of each of the four stems (a level shift)."""
    return _EVERY_STEM_RE.sub(lambda m: f"{m['verb']} the drums, the bass, the other stem and the vocals", t)


def _expand_exceptions(t: str) -> str:
    """"lower everything except the vocals" -> "lower the drums, the bass and the other stem"."""
    def repl(m: re.Match) -> str:
        named = {s for _, s in _stems_in(m["named"])}
        rest = [_STEM_TEXT[s] for s in _ALL_STEMS if s not in named]
        if not named or not rest:
            return m[0]
        return rest[0] if len(rest) == 1 else ", ".join(rest[:-1]) + " and " + rest[-1]
    return _EXCEPT_RE.sub(repl, t)


def _table_row(line: str) -> str:
    """A Markdown/pipe table row as a clause: "| vocals | -2 db |" -> "vocals: -2 db"; cells that carry their own
    label ("drums: -2 db | bass: +2 db") become separate clauses."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if all(":" in c for c in cells if c):
        return "; ".join(c for c in cells if c)
    return f"{cells[0]}: {' '.join(cells[1:])}"


def _label_line(line: str) -> str:
    """"drums - reduce by 2 db" (a stem, a dash, then the advice) -> "drums: reduce by 2 db"; a dash after
    a diagnosis ("vocals too high - bass too low") still separates two clauses."""
    m = re.match(r"(\s*)([a-z' ()]{2,30}?)\s+-\s+(?=[a-z])", line)
    if m and _stems_in(m[2]) and not (_UP_RE.search(m[2]) or _DOWN_RE.search(m[2])):
        return f"{m[1]}{m[2]}: {line[m.end():]}"
    return line


def _normalise(text: str) -> str:
    t = text.lower().replace("’", "'").replace("−", "-").replace("–", "-").replace("—", "-")
    t = "\n".join(_table_row(line) if line.count("|") >= 1 else line for line in t.split("\n"))
    t = re.sub(r"^\s*(?:[*•]\s*|-\s+(?=[a-z]))", "", t)
    t = re.sub(r"\n\s*(?:[*•]\s*|-\s+(?=[a-z]))", "\n", t)  # list markers ("- vocals too high") are not minus signs ("-6 db")
    t = "\n".join(_label_line(line) for line in t.split("\n"))
    for word, num in sorted(_NUMBER_WORDS.items(), key=lambda kv: -len(kv[0])):
        t = re.sub(rf"\b{word}\b(?=\s*(?:or \w+ )?(?:-\s*\w+\s*)?(?:db|decibels?)\b)", f"{num:g}", t)
        t = re.sub(rf"\b{word}\s*(?:-|to|or)\s*(\d)", f"{num:g}-\\1", t)
    t = re.sub(r"(\d+(?:\.\d+)?)\s*or\s*(\d+(?:\.\d+)?)\s*(db|decibels?)", r"\1-\2 \3", t)
    return _expand_every_stem(_expand_exceptions(re.sub(r"\bdbs\b", "db", t)))


def _stems_in(clause: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for rx, stem in _STEM_RE:
        for m in rx.finditer(clause):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append((m.start(), stem))
    found.sort()
    out, seen = [], set()
    for pos, stem in found:
        if stem not in seen:
            seen.add(stem)
            out.append((pos, stem))
    return out


def _amount(clause: str) -> tuple[float | None, int | None]:
    """(magnitude in dB, sign from an explicit +/-) found in a clause."""
    m = _RANGE_RE.search(clause)
    if m:
        a, b = abs(float(m.group(1))), abs(float(m.group(2)))
        sign = -1 if m.group(1).startswith("-") else (1 if m.group(1).startswith("+") else None)
        return (a + b) / 2, sign
    m = _DB_RE.search(clause)
    if m:
        raw = m.group(1).replace(" ", "")
        sign = -1 if raw.startswith(("-", "−")) else (1 if raw.startswith("+") else None)
        return abs(float(raw.lstrip("+-−"))), sign
    m = _BARE_RE.search(clause)
    if m:  # "bass up 2": a move word and a plain number read as dB
        return abs(float(m.group(1))), None
    m = _SIGNED_BARE_RE.search(clause)
    if m:  # "vox -3", "bass: +4": an explicit sign reads as a move in dB
        return abs(float(m.group(1))), -1 if m.group(1).startswith("-") else 1
    if _HALF_RE.search(clause):
        return 6.0, -1
    if _DOUBLE_RE.search(clause):
        return 6.0, 1
    return None, None


def _direction(clause: str) -> str | None:
    ups = [m.start() for m in _UP_RE.finditer(clause)]
    downs = [m.start() for m in _DOWN_RE.finditer(clause)]
    if not ups and not downs:
        return None
    first_up = min(ups) if ups else 10**9
    first_down = min(downs) if downs else 10**9
    return "up" if first_up < first_down else "down"


def _clauses(text: str) -> list[tuple[str, bool]]:
    """Clauses of the advice, each with whether it continues the one before: a list such as "bass +3 dB,
    drums -2 dB" or "push the vocals 2 dB and the other stem 1 dB" is cut at each stem, and a cut-off
    piece with no verb of its own takes the direction of the piece before it."""
    out = []
    for clause in _CLAUSE_SPLIT.split(_normalise(text)):
        if not clause:
            continue
        clause = _without_purpose(clause)  # before cutting at stems: a stem in a purpose tail is no move
        stems = _stems_in(clause)
        cuts = [p for p, _ in stems[1:]]
        pieces = [clause[a:b] for a, b in zip([0, *cuts], [*cuts, len(clause)], strict=True)]
        n_amounts = len(_DB_RE.findall(clause)) + len(_BARE_RE.findall(clause)) + len(_SIGNED_BARE_RE.findall(clause))
        own_amounts = len(stems) >= 2 and n_amounts >= len(stems)
        own_directions = len(stems) >= 2 and all(_UP_RE.search(p) or _DOWN_RE.search(p) for p in pieces)
        if own_amounts or own_directions:  # "bass +3 dB, drums -2 dB"; "drums too quiet, vocals too loud"
            out += [(piece, k > 0) for k, piece in enumerate(pieces)]
        else:
            out.append((clause, False))
    return out


_PURPOSE_RE = re.compile(r"\s+(?:so (?:that )?(?=the|it|they|we|you|there)|(?:which|this|that|it) (?:should|will|would) |"
                         r"(?:should|will|would|to) help\b|in order to\b|because\b|since\b).*$")


def _without_purpose(clause: str) -> str:
    """A clause without its purpose tail: the stems named there are what a move is for, not what to move."""
    cues = [m for m in (_UP_RE.search(clause), _DOWN_RE.search(clause)) if m]
    m = _PURPOSE_RE.search(clause, min(c.end() for c in cues) if cues else 0)
    head = clause[: m.start()] if m else ""
    return head if head and (_stems_in(head) or _PRONOUN_RE.search(head)) else clause


def _set_aside(clause: str) -> tuple[str, list[str]]:
    """The clause without a trailing "not the X" / "rather than X" / "instead of X", and the stems it set aside."""
    cue = _UP_RE.search(clause) or _DOWN_RE.search(clause)
    if cue is None:
        return clause, []
    m = _EXCLUDE_RE.search(clause, cue.end())
    if m is None:
        return clause, []
    aside = [s for _, s in _stems_in(m["named"])]
    return (clause[: m.start()], aside) if aside else (clause, [])


def _leave(out: ParsedAdvice, claimed: dict[str, Claim], stems) -> None:
    """Mark stems to be left alone (unless a move was already claimed for them)."""
    for s in stems:
        if s not in claimed and s not in out.leave:
            out.leave.append(s)


def _clause_direction(clause: str, continued: bool, amount: float | None, sign: int | None, last_direction: str | None) -> str | None:
    """A clause's direction: its verb or diagnosis; else an explicit sign; else, for a piece cut from a list, the
    direction of the piece before it. A sign next to a bare diagnosis ("vocals: -4 db") wins over the diagnosis."""
    direction = _direction(clause)
    if direction is None and sign is not None:
        return "up" if sign > 0 else "down"
    if direction is None and continued and amount is not None:
        return last_direction  # "push the vocals 2 dB and the other stem 1 dB"
    if sign is not None and direction is not None and _DB_RE.search(clause) and not re.search(r"\b(?:rais|lower|cut|boost|pull|push|bring|turn)", clause):
        return "up" if sign > 0 else "down"
    return direction


def _add_claims(out: ParsedAdvice, claimed: dict[str, Claim], stems, direction: str, amount: float | None, hedged: bool) -> None:
    """New claims for the clause's stems; a stem already claimed in the same direction gets the amount it lacked."""
    for s in stems:
        if s in claimed:
            earlier = claimed[s]
            if earlier.db is None and amount is not None and earlier.direction == direction:
                earlier.db = amount  # "the bass is buried, so turn it up 3 dB"
                if s in out.hedged:
                    out.hedged.remove(s)
            continue
        if s in out.leave:
            out.leave.remove(s)
        claimed[s] = Claim(stem=s, direction=direction, db=amount)
        out.claims.append(claimed[s])
        if hedged:
            out.hedged.append(s)


def parse_advice(text: str) -> ParsedAdvice:
    """The claims (stem, direction, dB or None) and the stems to leave in an advice text, clause by clause."""
    out = ParsedAdvice()
    claimed: dict[str, Claim] = {}
    last_stems: list[tuple[int, str]] = []
    last_direction: str | None = None
    last_amount: float | None = None
    for clause, continued in _clauses(text):
        if not clause or not clause.strip() or _EXPLANATION_RE.search(clause):
            continue
        clause, aside = _set_aside(clause)
        _leave(out, claimed, aside)
        stems = _stems_in(clause) or (last_stems if _PRONOUN_RE.search(clause) else [])  # "push it up 3 dB"
        if not stems:
            if (_LEAVE_ALL_RE.search(clause) and _ALL_RE.search(clause)) or (_REST_RE.search(clause) and _LEAVE_RE.search(clause)):
                out.leave = [s for s in _ALL_STEMS if s not in claimed]
            continue
        last_stems, names = stems, [s for _, s in stems]
        amount, sign = _amount(clause)
        if _direction(clause) is None and amount is not None and _CORRECTION_RE.search(clause):
            for s in names:  # "raise the bass 3 dB. actually, make that 2 dB"
                if s in claimed:
                    claimed[s].db = amount
            continue
        if amount == 0 and _direction(clause) is None:  # "other: 0 dB" in a table of changes: this stem stays
            _leave(out, claimed, names)
            continue
        if amount is None and _SAME_RE.search(clause):
            amount = last_amount  # "... and the bass by the same amount"
        direction = _clause_direction(clause, continued, amount, sign, last_direction)
        cue = (_UP_RE if direction == "up" else _DOWN_RE).search(clause) if direction else None
        negated = bool(cue and _NEG_RE.search(clause[: cue.start()]))
        if negated or direction is None:
            if negated or _LEAVE_RE.search(clause):
                _leave(out, claimed, names)
            continue
        last_direction, last_amount = direction, amount if amount is not None else last_amount
        _add_claims(out, claimed, names, direction, amount, amount is None and bool(_SLIGHT_RE.search(clause)))
    return out


__all__ = ["PARSER_VERSION", "Claim", "ParsedAdvice", "parse_advice"]
