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
PARSER_VERSION = 5

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
     r"(?:the )?['\"]?other['\"]? (?:stem|track|instruments?)|(?:the )?other\b(?= (?:by|up|down|[+-]?\d)|\s*:\s*[+-]?\d)|"
     r"hammond|rhodes|melodic guitars?", "other"),
]
_STEM_RE = [(re.compile(rf"\b(?:{pat})\b"), stem) for pat, stem in _STEMS]
_UP = r"rais\w*|boost\w*|nudg\w* (?:\w+ ){0,4}?up|(?:too )?far back|(?:brought|bring(?:ing)?) (?:\w+ ){0,3}?forward|(?:come|comes|coming) forward|barely (?:audible|there)|" \
      r"hardly (?:audible|hear)|inaudible|hard to hear|low\b(?![- ](?:end|pass))|quiet\b|" \
      r"bring(?:ing)? (?:\w+ ){0,4}?up|brought (?:\w+ ){0,4}?up|push\w*|turn\w* (?:\w+ ){0,4}?up|louder|increas\w*|lift\w*|add\b|db more\b|more\b(?!\s*(?:$|[.,;!?)]|than\b|in the mix|with\b|open|energetic|of a\b))|buried|too (?:quiet|soft|low)|sits? too low|lost\b|distant|extra\b|barely hear|(?:can't|cannot|can not|couldn't|could not) (?:really )?hear|drowning$|drowning (?:in|under)\b|drowned(?: out)?(?! (?:out )?(?:the|a|an)\b)|not enough|lacks?|lacking|missing|needs? more|up\b|" \
      r"too (?:few|little)\b|(?<!a )(?<!quite a )few\b|not (?:very |quite |so |really |that )?(?:present|audible|loud|prominent|noticeable|distinctive|clear|there)\b|" \
      r"not (?:\w+ )?enough|not much\b|miss\b|(?:can(?:'t|not)? )?barely (?:can |could )?(?:hear|listen)|can't (?:really )?listen|gone\b|" \
      r"fad\w* (?:away|out)|f[ae]ll\w* back|gets? lost|got lost|getting lost|disappear\w*|hidden|far away|too (?:far )?back|in the back(?:ground)?|" \
      r"set back|small\b|stronger|(?:higher|more) (?:volume|level|gain)\b|(?:be|go|sit|placed|put|mixed) (?:\w+ ){0,3}?(?:higher|more in front|further forward)|" \
      r"more (?:present|audible|prominent|upfront|up front|forward|in front|noticeable)"
_DOWN = r"lower\w*|cut\w*|drop\w*|tuck\w*|mut(?:e|ed|ing)\b|nudg\w* (?:\w+ ){0,4}?down|hot\b|(?:too )?far forward|" \
        r"too (?:prominent|present|dominant|upfront|in your face)|high\b(?![- ](?:end|pass))|loud\b|" \
        r"pull\w* (?:\w+ ){0,4}?(?:down|back)|bring(?:ing)? (?:\w+ ){0,4}?down|turn\w* (?:\w+ ){0,4}?down|attenuat\w*|quieter|reduc\w*|decreas\w*|tame\w*|back off|dial\w* (?:\w+ ){0,3}?back|too loud|too hot|too much|too high|sits? too high|overpower\w*|overwhelm\w*|dominat\w*|drown\w* (?:out )?(?:the|a|an|everything|all)\b|piercing|blaring|sticks? out|jumps? out|fighting|less\b|down\b|" \
        r"too (?:forward|(?:far )?(?:up ?front|in front))|in (?:the )?foreground|upfront|up front|\w+-heavy\b|too heavy|" \
        r"over (?:the rest|everything|the (?:mix|band|instruments?|music|track|others))|above (?:the (?:mix|rest|band|instruments?|others)|everything)|" \
        r"stands? (?:\w+ ){0,2}?(?:out|above)|stood out|standing out|stands? (?:\w+ ){0,2}?too much|hover\w*|overshadow\w*|predominant|" \
        r"(?:a )?lots? of\b|a lot\b(?! more)|many\b|much\b(?! (?:more|better|less|worse|of a|as|too))|so loud\w*|loudly|excess\w*|overly\b|" \
        r"(?:is|are|sounds?|sits?|seems?|feels?) (?:\w+ )?(?:much |way |a bit |a little |slightly |far )?(?:louder|more)(?= than\b| (?:upfront|up front|present|prominent|forward|in front))"
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
_CORRECTION_RE = re.compile(r"\b(?:actually|make (?:that|it)|i mean|correction|scratch that|on second thought|on reflection|wait)\b|(?:^|\s)no,")
# Terms for moves that are not level moves (EQ, filters, pan and width, dynamics, time effects, tone). A clause is
# not a level move when one of them sits right after its direction cue ("too much reverb", "cut 3 dB at 250 Hz",
# "add a high shelf") or right before it ("the reverb is too loud"), or when it opens with a processing verb.
_NON_LEVEL_TERMS = (r"\d+(?:\.\d+)?\s*k?hz\b|\d+(?:\.\d+)?\s*k\b|\beq\w*|eq'd|equali[sz]\w*|shel(?:f|ves|ving)|high[- ]?pass|low[- ]?pass|hpf|lpf|"
                    r"notch|filter\w*|\bpan\w*|stereo|width|compress\w*|limit\w*|\bratio\b|reverb\w*|\brev\b|delay\w*|echo\w*|"
                    r"ambien\w*|effects?\b|\bfx\b|saturat\w*|distort\w*|de-?ess\w*|\bgate\w*|automation|dynamics|bright\w*|muddiness|"
                    r"low-mids?|high-mids?|mid-?range|\bmids\b|highs\b|lows\b|\bair\b|punch\w*|energy|definition|harmonics|sibilan\w*|"
                    r"space\b|spatial\w*|room\b|clarity|character")
_NON_LEVEL_RE = re.compile(_NON_LEVEL_TERMS)
_PROCESSING_VERB_RE = re.compile(r"^\s*(?:\w+\s+){0,3}?(?:pan|eq|compress|filter|send|de-?ess|gate|saturate|automate|high-pass|low-pass|"
                                 r"notch|use (?:a|an|some) (?:\w+ )?(?:filter|eq|compressor|shelf|reverb|delay))\b")
_HEDGE_RE = re.compile(r"\b(?:up or down|down or up|either way|raise or lower|lower or raise|boost or cut|cut or boost|"
                       r"louder or (?:quieter|softer)|(?:quieter|softer) or louder|one way or (?:the )?other)\b")
# "X is louder than Y", "X compared to Y": the stems after the comparison are the yardstick, not what to move
_COMPARE_RE = re.compile(r"\b(?:compared (?:to|with)|in comparison (?:to|with)|relative to|than|against)\b")
# Active verbs whose subject is too loud and object too quiet ("the vocals overshadow the guitars")
_TRANSITIVE_RE = re.compile(r"\b(?:overshadow(?:s|ing)?|cover(?:s|ing)|mask(?:s|ing)|drown(?:s|ing)? out|swamp(?:s|ing)?|"
                            r"bur(?:ies|ying)|push(?:es|ing)? (?:the rest|everything))\b")
# A clause with no subject of its own continues the last one named ("cool vox ambiance. could be louder.")
_SUBJECTLESS_RE = re.compile(r"^\s*(?:but |and |though |although |maybe |perhaps |just |also )?(?:could|should|would|might|needs?|"
                             r"is|are|was|were|sounds?|seems?|feels?|gets?|sits?|comes?|a (?:bit|little|tad)|bit|slightly|too|"
                             r"way too|far too|rather|quite|pretty|very|still)\b")
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
    r"(?<!\d)\.|\.(?!\d)|[;!?\n]+|\s+-\s+(?=[a-z])|,\s*(?:so|and|but|then|while|whereas)\s+|\s+(?:but|then|while|whereas)\s+|,\s+(?=(?:(?:and|or)\s+)?(?:" + _UP + "|" + _DOWN + r"|leave|keep|everything|(?:all )?the rest|all else)\b)"
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
class Flag:
    """A stem the advice speaks of but gives no scoreable move for: ``hedged`` ("up or down"), ``contradictory``
    (both directions), ``ambiguous`` (parts of the stem moved opposite ways, "kick too loud, snare too quiet")."""

    stem: str
    reason: str
    text: str


@dataclass
class ParsedAdvice:
    claims: list[Claim] = field(default_factory=list)
    leave: list[str] = field(default_factory=list)
    slight: list[str] = field(default_factory=list)  # stems whose move was "slightly" etc. (no number)
    flagged: list[Flag] = field(default_factory=list)
    non_level: list[str] = field(default_factory=list)  # stems given EQ, pan, compression, effects: not level moves

    @property
    def specificity(self) -> int:
        """Quantified, non-zero, unflagged stem moves; moving every stem by the same amount is a level change,
        not a balance instruction, and scores 0."""
        numbered = [c for c in self.claims if c.db]
        if {c.stem for c in numbered} >= set(_ALL_STEMS) and len({c.signed_db() for c in numbered}) == 1:
            return 0
        return len(numbered)

    def gains(self, nominal: float = 3.0, slight: float = 1.5) -> dict[str, float]:
        return {c.stem: c.signed_db(slight if c.stem in self.slight and c.db is None else nominal) for c in self.claims}

    def as_dict(self) -> dict:
        return {"claims": [{"stem": c.stem, "direction": c.direction, "db": c.db} for c in self.claims],
                "leave": self.leave, "specificity": self.specificity,
                "flagged": [{"stem": f.stem, "reason": f.reason, "text": f.text} for f in self.flagged],
                "non_level": self.non_level}


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
    t = re.sub(r"(\d)\s+(k?hz)\b", r"\1\2", t)  # "250 Hz" is one word (a frequency, never an amount)
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
        own_directions = len(stems) >= 2 and sum(bool(_UP_RE.search(p) or _DOWN_RE.search(p)) for p in pieces) >= 2
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


def _stem_terms(clause: str) -> dict[str, str]:
    """The word each stem was named by in a clause ("kick", "snare", "drums"): parts of one stem."""
    terms: dict[str, str] = {}
    for rx, stem in _STEM_RE:
        for m in rx.finditer(clause):
            terms.setdefault(stem, m[0].strip().rstrip("s"))
    return terms


@dataclass
class _State:
    """What the reader carries from clause to clause."""

    out: ParsedAdvice = field(default_factory=ParsedAdvice)
    claimed: dict[str, Claim] = field(default_factory=dict)
    terms: dict[str, str] = field(default_factory=dict)  # the word each claimed stem was named by
    conflicted: set[str] = field(default_factory=set)  # stems flagged: never claimed again
    last_stems: list = field(default_factory=list)
    last_direction: str | None = None
    last_amount: float | None = None
    correcting: bool = False  # the clause before was a bare "actually," / "no,": this one corrects an earlier move


def _flag(st: _State, stem: str, reason: str, clause: str) -> None:
    if stem in st.claimed:
        st.out.claims.remove(st.claimed.pop(stem))
    if stem in st.out.slight:
        st.out.slight.remove(stem)
    st.conflicted.add(stem)
    st.out.flagged.append(Flag(stem, reason, clause.strip()))


def _add_claims(st: _State, clause: str, stems, direction: str, amount: float | None, slight: bool) -> None:
    """New claims for the clause's stems. A stem already claimed the same way gets the amount it lacked; the
    other way, it is a self-correction (with "actually", "make that") or else flagged: contradictory when the
    same part is moved both ways, ambiguous when different parts of the stem are ("kick too loud, snare too quiet")."""
    out, terms = st.out, _stem_terms(clause)
    for s in stems:
        if s in st.conflicted:
            continue
        earlier = st.claimed.get(s)
        if earlier is not None and earlier.direction != direction and (st.correcting or _CORRECTION_RE.search(clause)):
            earlier.direction, earlier.db = direction, amount
            continue
        if earlier is not None and earlier.direction != direction:
            same_part = terms.get(s, st.terms.get(s)) == st.terms.get(s)  # a pronoun names the part named before
            _flag(st, s, "contradictory" if same_part else "ambiguous", clause)
            continue
        if earlier is not None:
            if earlier.db is None and amount is not None:
                earlier.db = amount  # "the bass is buried, so turn it up 3 dB"
                if s in out.slight:
                    out.slight.remove(s)
            continue
        if s in out.leave:
            out.leave.remove(s)
        st.claimed[s] = Claim(stem=s, direction=direction, db=amount)
        st.terms[s] = terms.get(s, s)
        out.claims.append(st.claimed[s])
        if slight:
            out.slight.append(s)


_SEGMENT_RE = re.compile(r",|;|\(|\)|\band\b|\bbut\b|\bwhile\b")


def _without_non_level_cues(clause: str) -> tuple[str, bool]:
    """The clause with each direction cue that speaks of EQ, pan, dynamics, effects or tone blanked out (a
    non-level term right after it, its object: "too much reverb", "cut 3 dB at 250 Hz", "add a high shelf"; or
    right before it, its subject: "the reverb is too loud"; within the cue's own phrase), and whether any was."""
    spans = []
    for rx in (_UP_RE, _DOWN_RE):
        for m in rx.finditer(clause):
            before = _SEGMENT_RE.split(clause[: m.start()])[-1].split()[-5:]
            after = _SEGMENT_RE.split(clause[m.end():])[0].split()[:4]
            if _NON_LEVEL_RE.search(" ".join([*before, m[0], *after])):
                spans.append((m.start(), m.end()))
    for a, b in spans:
        clause = clause[:a] + " " * (b - a) + clause[b:]
    return clause, bool(spans)


def _subject_stems(st: _State, clause: str) -> list:
    """The clause's stems; or, with none named, the last ones named when a pronoun or a bare predicate refers back."""
    stems = _stems_in(clause)
    if stems:
        return stems
    if _PRONOUN_RE.search(clause) or _SUBJECTLESS_RE.search(clause):
        return st.last_stems
    return []


def _transitive(st: _State, clause: str) -> bool:
    """"The vocals overshadow the guitars": the subject down. With no stem as subject ("the instruments are covering
    the vocals"), what is covered up. True if the clause was one."""
    m = _TRANSITIVE_RE.search(clause)
    if m is None:
        return False
    subject = [s for _, s in _stems_in(clause[: m.start()])] or ([s for _, s in st.last_stems] if _PRONOUN_RE.search(clause[: m.start()]) else [])
    objects = [s for _, s in _stems_in(clause[m.end():]) if s not in subject]
    if not subject and not objects:
        return False
    if subject:
        _add_claims(st, clause, subject, "down", None, False)
    else:
        _add_claims(st, clause, objects, "up", None, False)
    return True


def _compared(st: _State, clause: str, stems: list) -> tuple[str, list] | None:
    """A comparison keeps the stems before it ("the guitars are loud compared to the vocals": the guitars). Parts of
    one stem compared with the rest of it ("the hi-hat is louder than the rest of the kit") give no claim: None."""
    m = _COMPARE_RE.search(clause)
    if m is None:
        return clause, stems
    head = [(p, s) for p, s in stems if p < m.start()]
    if not head:
        return clause, stems
    if {s for _, s in head} & {s for p, s in stems if p >= m.start()}:
        return None
    return clause[: m.start()], head


def _read_clause(st: _State, clause: str, continued: bool) -> None:
    """One clause into claims, leaves or flags (the steps of ``parse_advice``)."""
    out = st.out
    clause, aside = _set_aside(clause)
    _leave(out, st.claimed, aside)
    stems = _subject_stems(st, clause)
    correcting, st.correcting = st.correcting, False
    if not stems:
        st.correcting = bool(_CORRECTION_RE.search(clause)) and not (_UP_RE.search(clause) or _DOWN_RE.search(clause))
        if (_LEAVE_ALL_RE.search(clause) and _ALL_RE.search(clause)) or (_REST_RE.search(clause) and _LEAVE_RE.search(clause)):
            out.leave = [s for s in _ALL_STEMS if s not in st.claimed]
        return
    st.last_stems, names = stems, [s for _, s in stems]
    clause, dropped = _without_non_level_cues(clause)
    if _PROCESSING_VERB_RE.search(clause) or (dropped and not (_UP_RE.search(clause) or _DOWN_RE.search(clause))):
        out.non_level += [s for s in names if s not in out.non_level]
        return
    if _HEDGE_RE.search(clause):
        for s in names:
            _flag(st, s, "hedged", clause)
        return
    if _transitive(st, clause):
        return
    compared = _compared(st, clause, stems)
    if compared is None:
        return
    clause, stems = compared
    names = [s for _, s in stems]
    amount, sign = _amount(clause)
    direction = _direction(clause)
    if direction is None and (correcting or _CORRECTION_RE.search(clause)):
        for s in names:  # "raise the bass 3 dB. actually, make that 2 dB" / "actually, no, leave the bass"
            if s in st.claimed and amount is not None:
                st.claimed[s].db = amount
            elif s in st.claimed and _LEAVE_RE.search(clause):
                out.claims.remove(st.claimed.pop(s))
                _leave(out, st.claimed, [s])
        return
    if amount == 0 and direction is None:  # "other: 0 dB" in a table of changes: this stem stays
        _leave(out, st.claimed, names)
        return
    if amount is None and _SAME_RE.search(clause):
        amount = st.last_amount  # "... and the bass by the same amount"
    direction = _clause_direction(clause, continued, amount, sign, st.last_direction)
    cue = (_UP_RE if direction == "up" else _DOWN_RE).search(clause) if direction else None
    negated = bool(cue and _NEG_RE.search(clause[: cue.start()]))
    if negated or direction is None:
        if negated or _LEAVE_RE.search(clause):
            _leave(out, st.claimed, names)
        return
    st.last_direction, st.last_amount = direction, amount if amount is not None else st.last_amount
    st.correcting = correcting
    _add_claims(st, clause, names, direction, amount, amount is None and bool(_SLIGHT_RE.search(clause)))
    st.correcting = False


def parse_advice(text: str) -> ParsedAdvice:
    """The claims (stem, direction, dB or None), the stems to leave, and the stems flagged as hedged, contradictory
    or ambiguous in an advice text, clause by clause."""
    st = _State()
    for clause, continued in _clauses(text):
        if clause and clause.strip() and not _EXPLANATION_RE.search(clause):
            _read_clause(st, clause, continued)
    return st.out


__all__ = ["PARSER_VERSION", "Claim", "Flag", "ParsedAdvice", "parse_advice"]
