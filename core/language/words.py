"""Word lists: the one place each of these vocabularies lives (no models, no IO).

Month and day names, number words, units, title words, name particles, speech verbs, referring-back
pronouns and place aliases (capitals used for governments, demonyms). Other modules import them from
here rather than keeping a copy; the patterns built from them live in core/language/quantities.py.
"""

from __future__ import annotations

from core.language.terms import wordset

MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
               "october", "november", "december")
MONTHS: dict[str, int] = {
    **{name: k for k, name in enumerate(MONTH_NAMES, start=1)},
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}
# three-letter abbreviations that are also ordinary words count only next to a number ("Mar 3")
AMBIGUOUS_MONTHS = wordset("may mar jan jun dec")

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAYS = frozenset(WEEKDAY_NAMES)

UNITS_0_19: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS: dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
HUNDRED = "hundred"
SCALES: dict[str, int] = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
# short scale suffixes written after digits: "$2bn", "1.5m people" (not "5 m" = metres, see UNITS)
SCALE_SUFFIXES: dict[str, int] = {"bn": 10**9, "tn": 10**12}
NUMBER_WORDS = frozenset(UNITS_0_19) | frozenset(TENS) | {HUNDRED} | frozenset(SCALES)
# "one" alone is mostly a pronoun ("one of the ..."); it counts only inside a longer number
WEAK_NUMBER_WORDS = wordset("one")

# unit words after a number, folded to one canonical unit so "312 metres" == "312 m" == "312 meters"
UNITS: dict[str, str] = {}
for _canon, _forms in {
    "m": "m metre metres meter meters", "km": "km kilometre kilometres kilometer kilometers",
    "cm": "cm centimetre centimetres centimeter centimeters", "mm": "mm millimetre millimetres",
    "mile": "mile miles mi", "ft": "ft foot feet", "in": "inch inches", "yd": "yard yards",
    "kg": "kg kilogram kilograms kilo kilos", "g": "g gram grams", "lb": "lb lbs pound pounds",
    "t": "ton tons tonne tonnes", "l": "l litre litres liter liters", "ml": "ml millilitre millilitres",
    "h": "h hr hrs hour hours", "min": "min mins minute minutes", "s": "sec secs second seconds",
    "day": "day days", "week": "week weeks", "month": "month months", "year": "year years",
    "decade": "decade decades", "century": "century centuries",
    "pct": "percent per-cent pct %", "usd": "dollar dollars usd $", "eur": "euro euros eur €",
    "gbp": "sterling gbp £", "yuan": "yuan renminbi rmb", "won": "won", "rouble": "rouble roubles ruble rubles",
    "kmh": "kmh kph mph", "deg": "degree degrees °", "kw": "kw kilowatt kilowatts",
    "mw": "mw megawatt megawatts", "ha": "hectare hectares ha", "acre": "acre acres",
}.items():
    for _f in _forms.split():
        UNITS[_f] = _canon
# the dimension each canonical unit measures: answer types ask for one ("How far ...?" wants a length)
UNIT_DIMENSIONS: dict[str, str] = {
    **dict.fromkeys(("m", "km", "cm", "mm", "mile", "ft", "in", "yd"), "length"),
    **dict.fromkeys(("kg", "g", "lb", "t"), "mass"),
    **dict.fromkeys(("usd", "eur", "gbp", "yuan", "won", "rouble"), "money"),
    "kmh": "speed",
}
# money words that are not units of the guard's comparisons (slang, ambiguous, or subunits)
MONEY_WORDS = wordset("buck bucks quid pound pounds cent cents pence grand")
# words after a number that make it a speed ("60 km/h" is tokenised as km / h)
SPEED_FORMS = ("km/h", "km/hr", "m/s", "knots", "knot", "kilometres per hour", "kilometers per hour",
               "miles per hour", "metres per second", "meters per second")
# words that make a sentence state a duration without a digit ("a month earlier", "for decades")
DURATION_WORDS = wordset(
    """
    second seconds sec secs minute minutes min mins hour hours hr hrs day days week weeks fortnight month
    months year years yr yrs decade decades century centuries overnight ago earlier later since until
    """
)
# words that sit between a number and its unit without changing it ("260,000 metric tons")
UNIT_FILLERS = wordset("metric square cubic nautical short long more than over about around nearly almost")

TITLES = wordset(
    """
    mr mrs ms miss dr prof professor sir dame lord lady president vice prime minister premier chancellor
    secretary general gen col colonel maj major capt captain lt lieutenant sgt sergeant adm admiral
    senator sen rep representative congressman congresswoman governor gov mayor judge justice king queen
    prince princess emperor pope saint st rev reverend father bishop chairman chairwoman chair ceo cfo
    director chief commander ambassador spokesman spokeswoman spokesperson deputy foreign defence defense
    supreme leader former acting assistant associate lecturer
    """
)
# words that make a capitalised name an organisation or a place, not a person ("Stimson Center")
ORGANISATION_WORDS = wordset(
    """
    university college school institute center centre trust ministry department program programme council
    committee agency company bank group party government office house city port island bridge narrows
    spirit association foundation union league club church hospital court army navy force forces
    """
)
# words that make a capitalised name a region or a landform, not a person ("Korean Peninsula", "Hong Kong")
GEOGRAPHY_WORDS = wordset(
    """
    peninsula asia europe africa america americas ocean sea gulf strait river lake mountains valley coast
    bay channel hong kong northeast northwest southeast southwest east west north south middle region
    """
)
# lower-case words that may sit inside a name span ("University of Oxford", "Ludwig van Beethoven")
NAME_PARTICLES = wordset("of the de da del della der di du van von bin ibn al el la le y and for")

SPEECH_VERBS = wordset(
    """
    said says say stated told tells added adds noted notes warned warns warn claimed claims
    argued argues explained explains wrote writes insisted insists suggested suggests observed observes
    remarked remarks commented comments declared declares announced announces asserted asserts stressed
    stresses emphasised emphasized emphasises emphasizes acknowledged acknowledges admitted admits
    predicted predicts hailed hails cautioned cautions recalled recalls replied replies responded
    responds concluded concludes maintained maintains contended contends testified testifies
    tweeted quipped urged urges vowed vows promised promises denied denies confirmed confirms
    """
)
# pronouns whose presence makes the previous sentence part of a claim's support (they name no one)
REFERRING_PRONOUNS = wordset("he she they him her them his hers their theirs")
# capitalised words that open sentences but are not names (checked only in sentence-initial position)
SENTENCE_OPENERS = wordset(
    """
    however meanwhile despite although though while since because after before during when where if
    unless whereas moreover furthermore also still yet thus therefore instead besides later earlier
    today yesterday tomorrow now then both neither either each every many most some several few all
    according asked in on at by for with without from among between within as like unlike
    """
)

# one line per place: every form names the same government/country, so a claim may use any of them
PLACE_ALIASES: tuple[tuple[str, ...], ...] = tuple(
    tuple(form.strip() for form in line.split("|"))
    for line in """
    china|chinese|beijing|prc|sino
    russia|russian|russians|moscow|kremlin|russian federation
    north korea|north korean|north koreans|pyongyang|dprk
    south korea|south korean|south koreans|seoul|rok
    united states|us|usa|america|american|americans|washington|white house
    united kingdom|uk|britain|british|london|great britain
    japan|japanese|tokyo
    france|french|paris|elysee
    germany|german|germans|berlin
    ukraine|ukrainian|ukrainians|kyiv|kiev
    iran|iranian|iranians|tehran
    india|indian|indians|new delhi|delhi
    taiwan|taiwanese|taipei
    israel|israeli|israelis|jerusalem
    canada|canadian|canadians|ottawa
    australia|australian|australians|canberra
    soviet union|soviet|soviets|ussr
    european union|eu|brussels
    """.strip().splitlines()
)

# ------------------------------------------------------------------ the question-side guard (issue 27)
# words that make a statement a plan, a possibility or an intention rather than what happened: "considering
# the possibility of sending arms" does not answer "Which weapons did South Korea end up sending?"
HEDGE_WORDS = wordset(
    """
    consider considers considered considering consideration may might could would should will shall
    plan plans planned planning possibility possible possibly potential potentially expect expects
    expected expecting expectation likely unlikely propose proposes proposed proposal offer offers offered
    hope hopes hoped intend intends intended intention aim aims discuss
    discussed discussing openness willing willingness threaten threatens threatened mull mulls
    mulled weigh weighs weighed explore explores explored exploring prospect prospects ready readiness
    """
)
# a question with one of these asks about a plan or possibility itself, so hedged evidence answers it
QUESTION_HEDGES = HEDGE_WORDS
# words that may stand between a hedge and the verb it governs: "may have signed", "plans to visit", "could not
# be sent", "the possibility of sending" ("the" / "a" count only before another hedge word)
HEDGE_LINKS = wordset("have has had be been being to not also still of ever soon eventually yet")
HEDGE_DETERMINERS = wordset("the a an")
# phrases that ask what actually happened, as opposed to what was planned or considered
FACT_MARKERS = ("end up", "ended up", "ends up", "actually", "ultimately", "in the end", "in fact", "finally",
                "really")
# a question with one of these asks what will happen: evidence anchored in the past (PAST_ANCHORS) and with no
# future or hedge word does not answer it ("Will Xi visit again next year?" is not met by "Five years ago, Xi ...")
FUTURE_AUX = wordset("will shall")
FUTURE_WORDS = FUTURE_AUX | wordset("going upcoming next future soon")
PAST_ANCHORS = ("ago", "yesterday", "previously", "formerly", "last year", "last month", "last week")
# "Which Mercedes-Benz model ...?": a kind of the named thing; naming the make alone does not answer it
SUBTYPE_NOUNS = wordset("model models version versions variant variants edition editions generation series type")
# qualifiers that single one thing out; the evidence must single it out the same way. Synonyms share a line.
EXCLUSIVE_QUALIFIERS: tuple[tuple[str, ...], ...] = (
    ("first", "earliest", "maiden", "inaugural"),
    ("only", "sole", "lone", "single"),
    ("last", "final", "latest", "recent", "recently"),
)
# a question's "ever" rules out evidence that limits a first/last to a period: "first ... in 14 years"
EVER_WORDS = wordset("ever")
# irregular past forms, so "sent" meets "sending" and "given" meets "give" (the question guard's hedge check)
IRREGULAR_VERBS: dict[str, str] = {
    form: base for base, forms in {
        "send": "sent", "give": "gave given", "buy": "bought", "take": "took taken", "make": "made",
        "hold": "held", "meet": "met", "go": "went gone", "sell": "sold", "tell": "told", "begin": "began begun",
        "win": "won", "lead": "led", "build": "built", "bring": "brought", "pay": "paid", "spend": "spent",
        "get": "got gotten", "leave": "left", "find": "found", "keep": "kept", "lose": "lost", "fight": "fought",
        "sign": "signed", "see": "saw seen", "come": "came", "become": "became", "write": "wrote written",
        "choose": "chose chosen", "break": "broke broken", "rise": "rose risen", "fall": "fell fallen",
        "supply": "supplied", "buy up": "bought up",
    }.items() for form in forms.split()
}
# the common nouns that end institution and place names: "Tamar Bridge" needs "Tamar", not "bridge"
GENERIC_NAME_WORDS = wordset(
    """
    bridge center centre university college institute ministry department agency office council committee
    commission court party army navy force forces bank company corporation group association foundation
    program programme river lake mountain mountains sea ocean island islands street road square park
    station airport port city town village county province state states region district peninsula
    school hospital church cathedral museum library hall tower palace house senate parliament congress
    government administration union league treaty pact alliance war ferry crossing narrows
    """
)
# endings that make a form of PLACE_ALIASES an adjective ("Russian", "Chinese", "Korean", "French"): the question
# guard accepts "the Russian leader" anywhere in the cited passage, a country itself only near the answer
DEMONYM_ENDINGS = ("ian", "ese", "ish", "ean", "can", "ch", "eli", "man", "ans")
