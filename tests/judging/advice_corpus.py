"""Hand-written advice texts and the claims a careful reader takes from them.

Each entry: (text, {(stem, direction, dB or None)}, {stems to leave}). Written by hand from the
phrasings in the judges issue (stem synonyms, directions, amounts, negation, "leave X as is") and
the kinds of things engineers and chatbots actually say.
"""

U, D = "up", "down"

CORPUS: list[tuple[str, set, set]] = [
    # plain verbs and amounts
    ("Raise the bass by 3 dB.", {("bass", U, 3.0)}, set()),
    ("Lower the vocals 2 dB.", {("vocals", D, 2.0)}, set()),
    ("Boost the drums by 4 dB.", {("drums", U, 4.0)}, set()),
    ("Cut the guitars by 5dB.", {("other", D, 5.0)}, set()),
    ("Bring the keys up 2 dB.", {("other", U, 2.0)}, set()),
    ("Pull the bass down 3 dB.", {("bass", D, 3.0)}, set()),
    ("Push the lead vocal up by about 4 dB.", {("vocals", U, 4.0)}, set()),
    ("Turn the snare down by 2 dB.", {("drums", D, 2.0)}, set()),
    ("Turn up the voice 3 dB.", {("vocals", U, 3.0)}, set()),
    ("Attenuate the synths by 6 dB.", {("other", D, 6.0)}, set()),
    ("Make the bass louder by 2 dB.", {("bass", U, 2.0)}, set()),
    ("Make the piano quieter, about 3 dB.", {("other", D, 3.0)}, set()),
    ("Increase the kick by 1.5 dB.", {("drums", U, 1.5)}, set()),
    ("Reduce the pads by 4 decibels.", {("other", D, 4.0)}, set()),
    # signed and terse
    ("Vocals: -4 dB.", {("vocals", D, 4.0)}, set()),
    ("Keys +2dB", {("other", U, 2.0)}, set()),
    ("bass +3 dB, drums -2 dB", {("bass", U, 3.0), ("drums", D, 2.0)}, set()),
    ("Vocals +1.5dB; strings -3dB.", {("vocals", U, 1.5), ("other", D, 3.0)}, set()),
    ("-6 dB on the hi-hats.", {("drums", D, 6.0)}, set()),
    # ranges and words
    ("Bring the guitars up 2-3 dB.", {("other", U, 2.5)}, set()),
    ("Lower the vocals 2 to 4 dB.", {("vocals", D, 3.0)}, set()),
    ("Turn the bass up three dB.", {("bass", U, 3.0)}, set()),
    ("Raise the drums by two or three dB.", {("drums", U, 2.5)}, set()),
    ("Drop the singer by six decibels.", {("vocals", D, 6.0)}, set()),
    ("Cut the bassline by half.", {("bass", D, 6.0)}, set()),
    ("Halve the level of the cymbals.", {("drums", D, 6.0)}, set()),
    ("Bring the keyboards up a couple of dB.", {("other", U, 2.0)}, set()),
    ("Raise the vox by 1 dB.", {("vocals", U, 1.0)}, set()),
    # hedges: a direction with no number
    ("Slightly lower the vocals.", {("vocals", D, None)}, set()),
    ("Bring the bass up a touch.", {("bass", U, None)}, set()),
    ("The drums could come down a little.", {("drums", D, None)}, set()),
    ("Nudge... actually just raise the accompaniment a bit.", {("other", U, None)}, set()),
    # diagnoses instead of verbs
    ("The vocals are buried.", {("vocals", U, None)}, set()),
    ("The kick is too loud.", {("drums", D, None)}, set()),
    ("The bass is too hot, pull it down 2-3 dB.", {("bass", D, 2.5)}, set()),
    ("I can barely hear the bassline, so turn the bass up three dB.", {("bass", U, 3.0)}, set()),
    ("The guitars overpower the vocal.", {("other", D, None), ("vocals", D, None)}, set()),
    ("There's too much snare in this mix.", {("drums", D, None)}, set()),
    ("The singer gets lost; push her up 4 dB.", {("vocals", U, 4.0)}, set()),
    ("The piano lacks presence.", {("other", U, None)}, set()),
    ("Not enough bass guitar: add 2 dB.", {("bass", U, 2.0)}, set()),
    ("The kick is buried; push it up +3dB", {("drums", U, 3.0)}, set()),
    # several moves in one sentence
    ("Raise the bass by 3 dB and lower the vocals 2 dB.", {("bass", U, 3.0), ("vocals", D, 2.0)}, set()),
    ("Turn the synth pads down a bit and raise the singer 6 dB.", {("other", D, None), ("vocals", U, 6.0)}, set()),
    ("Boost the accompaniment by 3.5 dB. Lower the bass guitar by 2 dB.", {("other", U, 3.5), ("bass", D, 2.0)}, set()),
    ("First cut the drums 4 dB, then raise the vocals 2 dB.", {("drums", D, 4.0), ("vocals", U, 2.0)}, set()),
    ("Lower the guitars by 3 dB, raise the bass by 2 dB, and leave the drums as is.",
     {("other", D, 3.0), ("bass", U, 2.0)}, {"drums"}),
    ("Raise the vocals 3 dB while pulling the keys down 2 dB.", {("vocals", U, 3.0), ("other", D, 2.0)}, set()),
    # negation
    ("Don't raise the bass.", set(), {"bass"}),
    ("Don't raise the bass, but cut the snare by half.", {("drums", D, 6.0)}, {"bass"}),
    ("There is no need to lower the vocals.", set(), {"vocals"}),
    ("Do not cut the drums; instead raise the bass 2 dB.", {("bass", U, 2.0)}, {"drums"}),
    ("I wouldn't touch the guitars, but the vocal needs 3 dB more.", {("vocals", U, 3.0)}, {"other"}),
    ("Never boost the kick here.", set(), {"drums"}),
    # leave it
    ("Leave the drums as is.", set(), {"drums"}),
    ("The bass sits fine, leave it.", set(), {"bass"}),
    ("Keep the vocals where they are.", set(), {"vocals"}),
    ("The balance already works; leave every stem where it is.", set(), {"drums", "bass", "other", "vocals"}),
    ("Nothing needs to move here. Leave the levels as they are.", set(), {"drums", "bass", "other", "vocals"}),
    ("Lower the vocals 2 dB. Keep the drums and bass and guitars and keys where they are.",
     {("vocals", D, 2.0)}, {"drums", "bass", "other"}),
    # generic, no claims
    ("Balance the mix by ear until it sounds right.", set(), set()),
    ("Make sure everything sits well together and check on headphones.", set(), set()),
    ("It's a nice mix overall.", set(), set()),
    # stem vocabulary
    ("Raise the percussion 2 dB.", {("drums", U, 2.0)}, set()),
    ("Lower the overheads 3 dB.", {("drums", D, 3.0)}, set()),
    ("Raise the backing vocals 2 dB.", {("vocals", U, 2.0)}, set()),
    ("Lower the organ by 2 dB.", {("other", D, 2.0)}, set()),
    ("Bring the bass drum up 2 dB.", {("drums", U, 2.0)}, set()),
    ("Raise the 'other' stem by 3 dB.", {("other", U, 3.0)}, set()),
    ("Turn the sub bass down 4 dB.", {("bass", D, 4.0)}, set()),
    # the judges issue's examples (#12) and variants: exceptions, one verb over stems with their own amounts,
    # contrast, hedged diagnoses, engineers' verbs and instrument words, list markers
    ("Lower everything except the vocals by 4 dB", {("drums", D, 4.0), ("bass", D, 4.0), ("other", D, 4.0)}, set()),
    ("cut everything but the bass by 3 dB", {("drums", D, 3.0), ("other", D, 3.0), ("vocals", D, 3.0)}, set()),
    ("Bring up all the stems except the drums and bass by 2 dB.", {("other", U, 2.0), ("vocals", U, 2.0)}, set()),
    ("push the vocals 2 dB and the other stem 1 dB", {("vocals", U, 2.0), ("other", U, 1.0)}, set()),
    ("Lower the kick 3 dB and the keys 1 dB.", {("drums", D, 3.0), ("other", D, 1.0)}, set()),
    ("bring the bass up 4 dB, not the other stem", {("bass", U, 4.0)}, {"other"}),
    ("Raise the vocals rather than the guitars.", {("vocals", U, None)}, {"other"}),
    ("Don't raise the bass; lower the drums 2 dB instead.", {("drums", D, 2.0)}, {"bass"}),
    ("the vocals are a bit hot", {("vocals", D, None)}, set()),
    ("drop the other stem 2 dB", {("other", D, 2.0)}, set()),
    ("tuck the vocals under a little", {("vocals", D, None)}, set()),
    ("the low end needs 3 dB more", {("bass", U, 3.0)}, set()),
    ("Nudge the snare up 1 dB.", {("drums", U, 1.0)}, set()),
    ("Mute the pads.", {("other", D, None)}, set()),
    ("The bass DI is a touch hot.", {("bass", D, None)}, set()),
    ("- vocals too high - bass too low", {("vocals", D, None), ("bass", U, None)}, set()),
    ("-6 dB on the hi-hats, - and leave the vocals", {("drums", D, 6.0)}, {"vocals"}),
    # listeners' comments: short, informal, mostly without amounts
    ("vocals sit too far back", {("vocals", U, None)}, set()),
    ("guitars barely audible", {("other", U, None)}, set()),
    ("can hardly hear the bass", {("bass", U, None)}, set()),
    ("drums too quiet, vocals too loud", {("drums", U, None), ("vocals", D, None)}, set()),
    ("The vocal is too far forward", {("vocals", D, None)}, set()),
    ("Piano is too prominent", {("other", D, None)}, set()),
    ("vocals a little low", {("vocals", U, None)}, set()),
    ("vocals need to be brought forward", {("vocals", U, None)}, set()),
    ("the low end is too loud", {("bass", D, None)}, set()),
    # amounts without a unit, self-corrections, "the same amount"
    ("Bass up 2", {("bass", U, 2.0)}, set()),
    ("vocals up 2, drums down 1", {("vocals", U, 2.0), ("drums", D, 1.0)}, set()),
    ("Raise the vocals by 2 bars later in the song", {("vocals", U, None)}, set()),  # bars are not dB
    ("Raise the bass 3 dB. Actually, make that 2 dB.", {("bass", U, 2.0)}, set()),
    ("Raise the drums 2 dB and the bass by the same amount", {("drums", U, 2.0), ("bass", U, 2.0)}, set()),
]
