"""The attribution and number guard (rag/verify/attribution.py), alone and inside the citation verifier.

Perturbation test (issue 18): true sentences from the bundled article and from a fixed sample of SQuAD
dev paragraphs get one name, number, month, clock time or speaker swapped for another one from the SAME document.
At least 95% of the perturbed sentences must be flagged and at least 95% of true claims (the sentence,
its clauses, its numbers rewritten in another form) must pass: through the guard directly and through
CitationVerifier.verify with the real MiniLM embedder. The perturbations are made by simple regexes of
their own, not by the guard's extractor, so an entity the guard cannot see still gets perturbed.
Rates are printed (pytest -s). SQuAD articles are split: DEV ones were looked at while writing the
rules, HELD_OUT ones were not (their rate is the honest figure); SQuAD parts skip without ../shared.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from dataclasses import dataclass

import pytest

from core.language.names import facts, midsentence_caps
from core.language.words import MONTHS, PLACE_ALIASES, SPEECH_VERBS, TENS, TITLES, UNITS_0_19
from core.settings import BUNDLED_CORPUS, PROJECT_ROOT
from core.types import Chunk, Passage
from index.sentences import body_sentences, split_sentences
from rag.reader.evidence import SentenceBank
from rag.reader.scorers import HeuristicScorer
from rag.verify.attribution import check
from rag.verify.citations import CitationVerifier, neutralise, parse_sentences

ARTICLE = BUNDLED_CORPUS / "elephant-in-the-room.txt"
BRIDGE = BUNDLED_CORPUS / "kessick-narrows-bridge.txt"
SQUAD = PROJECT_ROOT.parent / "shared" / "data" / "squaddev_v1.1.json.gz"
SEED = 18
TARGET = 0.95

_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+(?: (?:of )?[A-Z][a-z]+)*")
_NUMBER = re.compile(r"(?<![\w.,:])\d{1,3}(?:,\d{3})+(?![\w,])|(?<![\w.,:])\d+(?![\w,.:]\d|\w)")
_CLOCK = re.compile(r"(?<![\w.:])\d{1,2}:\d{2}(?![\w:])")
_MONTH = re.compile(r"\b(?:January|February|March|April|June|July|August|September|October|November|December)\b")
_VERBS = "|".join(sorted(SPEECH_VERBS))
_SPEAKER = re.compile(
    rf"(?:\b(?:{_VERBS}) ([A-Z][a-z]+(?: [A-Z][a-z]+)*))|(?:^|[.\"”] )([A-Z][a-z]+(?: [A-Z][a-z]+)*),? (?:{_VERBS})\b"
)
_SMALL = list(UNITS_0_19)  # zero .. nineteen, in order
_TENS = list(TENS)  # twenty .. ninety

HOWELL_CLAIM = ("Edward Howell, a lecturer in politics at the University of Oxford, stated that China doesn't feel "
                "it can control the deepening engagement between Russia and North Korea.")


@dataclass(frozen=True)
class Item:
    claim: str
    sentence: str  # the true sentence the claim came from
    neighbour: str  # the sentence before it in the document
    kind: str  # "true", or the perturbation: name, number, month, time, speaker


# ---------------------------------------------------------------------------------- building the sets
def article_text() -> str:
    text = ARTICLE.read_text("utf-8")
    return text.split("\nComments\n")[0]  # the blog's tail ("Popular posts ...") is not the article


def sentences_of(text: str) -> list[tuple[str, str]]:
    """(sentence, previous sentence of the same paragraph) for every sentence of a document."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        sents = [para[s:e] for s, e in split_sentences(para)]
        out.extend((s, sents[i - 1] if i else "") for i, s in enumerate(sents))
    return out


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", text)}


def _places(text: str) -> set[int]:
    low = " " + " ".join(re.findall(r"\w+", text.lower())) + " "
    return {g for g, forms in enumerate(PLACE_ALIASES) for f in forms if f" {f} " in low}


def _distinct(new: str, old: str, sentence: str, neighbour: str) -> bool:
    """A replacement that really changes the claim: no word of it already there, not the same place."""
    new_words = _words(new)
    if new_words & (_words(sentence) | _words(neighbour)) or _places(new) & _places(f"{old} {sentence}"):
        return False
    return not any(a[:4] == b[:4] for a in new_words for b in _words(old) if len(a) >= 4 and len(b) >= 4)


def _value(number: str) -> str:
    return number.replace(",", "")


def _swap(sentence: str, neighbour: str, found: list[str], pool: list[str], rng: random.Random,
          ok=None) -> tuple[str, str] | None:
    """Replace one of `found` (in sentence) by a member of `pool` that passes `ok`; (claim, old)."""
    for old in found:
        choices = [p for p in pool if p != old and (ok or _distinct)(p, old, sentence, neighbour)]
        if choices:
            new = rng.choice(sorted(choices))
            claim = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, sentence, count=1)
            if claim != sentence:  # "Mc" of "McDonald" is found but is no whole word
                return claim, old
    return None


def _year_like(n: str) -> bool:
    return _value(n).isdigit() and len(_value(n)) == 4 and 1000 <= int(_value(n)) <= 2100


def perturbations(text: str, rng: random.Random) -> list[Item]:
    """At most one perturbation of each kind per sentence, all drawn from the same document."""
    names = sorted({m for m in _NAME.findall(text) if not set(m.lower().split()) & (TITLES | set(MONTHS))})
    numbers = sorted(set(_NUMBER.findall(text)))
    months = sorted(set(_MONTH.findall(text)))
    clocks = sorted(set(_CLOCK.findall(text)))
    speakers = sorted({a or b for a, b in _SPEAKER.findall(text)} - {"He", "She", "They", "It", "We", "I"})
    items = []
    for sent, prev in sentences_of(text):
        found_names = [m for m in _NAME.findall(sent) if m in names]
        found_nums = _NUMBER.findall(sent)

        def same_shape(new, old, s, n):
            return _value(new) != _value(old) and _year_like(new) == _year_like(old) and \
                _value(new) not in {_value(x) for x in _NUMBER.findall(f"{s} {n}") + _CLOCK.findall(f"{s} {n}")}

        def other_speaker(new, old, s, n):
            return not _words(new) & _words(s) and not _places(new) & _places(old)

        tries = [
            ("name", _swap(sent, prev, found_names, names, rng)),
            ("number", _swap(sent, prev, found_nums, numbers, rng, same_shape)),
            ("month", _swap(sent, prev, _MONTH.findall(sent), months, rng)),
            ("time", _swap(sent, prev, _CLOCK.findall(sent), clocks, rng, same_shape)),
            ("speaker", _swap(sent, prev, [a or b for a, b in _SPEAKER.findall(sent)], speakers, rng, other_speaker)),
        ]
        items.extend(Item(claim, sent, prev, kind) for kind, hit in tries if hit for claim in [hit[0]])
    return items


def _number_words(n: int) -> str:
    if n < 20:
        return _SMALL[n]
    return _TENS[n // 10 - 2] + ("" if n % 10 == 0 else "-" + _SMALL[n % 10])


def true_claims(text: str) -> list[Item]:
    """The sentence, each clause of >= 6 words, and the sentence with its numbers written differently."""
    items = []
    for sent, prev in sentences_of(text):
        items.append(Item(sent, sent, prev, "true"))
        for clause in re.split(r"(?<=\w), (?=\w)", sent):
            if len(clause.split()) >= 6 and clause != sent:
                claim = clause[0].upper() + clause[1:].rstrip(".") + "."
                items.append(Item(claim, sent, prev, "true"))
        nums = _NUMBER.findall(sent)
        if nums:
            def rewrite(m: re.Match) -> str:
                v = int(_value(m.group(0)))
                return _number_words(v) if v < 100 and not m.group(0).startswith("0") else _value(m.group(0))
            claim = _NUMBER.sub(rewrite, sent)
            if claim != sent:
                items.append(Item(claim, sent, prev, "true"))
    return items


def squad_texts(part: str) -> dict[str, str]:
    """A fixed sample: 12 articles (seeded), 4 paragraphs each; the first 6 are DEV, the rest HELD_OUT."""
    if not SQUAD.is_file():
        pytest.skip(f"{SQUAD} is absent (the SQuAD part needs ../shared/data)")
    data = json.loads(gzip.decompress(SQUAD.read_bytes()))["data"]
    rng = random.Random(SEED)
    chosen = rng.sample(sorted(data, key=lambda a: a["title"]), 12)
    picked = chosen[:6] if part == "dev" else chosen[6:]
    out = {}
    for art in picked:
        paras = [p["context"] for p in art["paragraphs"]]
        out[art["title"]] = "\n\n".join(rng.sample(paras, min(4, len(paras))))
    return out


# ---------------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Rates:
    flagged: float  # share of perturbed claims flagged
    passed: float  # share of true claims passed
    n_perturbed: int
    n_true: int
    misses: tuple[str, ...]  # a few failures of each side, for the message

    def line(self, label: str) -> str:
        return (f"{label}: flagged {self.flagged:.1%} of {self.n_perturbed} perturbed, "
                f"passed {self.passed:.1%} of {self.n_true} true")


def rates(items: list[Item], judge_all) -> Rates:
    """judge_all(items) -> per item, True when the claim is accepted as supported."""
    verdicts = judge_all(items)
    missed = [i for i, ok in zip(items, verdicts, strict=True) if ok and i.kind != "true"]
    rejected = [i for i, ok in zip(items, verdicts, strict=True) if not ok and i.kind == "true"]
    n_bad = sum(i.kind != "true" for i in items)
    n_good = len(items) - n_bad
    misses = tuple(f"{i.kind} accepted: {i.claim!r} <- {i.sentence!r}" for i in missed[:8]) + tuple(
        f"true rejected: {i.claim!r} <- {i.sentence!r}" for i in rejected[:8])
    return Rates(1 - len(missed) / max(1, n_bad), 1 - len(rejected) / max(1, n_good), n_bad, n_good, misses)


def items_for(text: str) -> list[Item]:
    return perturbations(text, random.Random(SEED)) + true_claims(text)


def guard_judge(context: str):
    return lambda items: [check(i.claim, i.sentence, i.neighbour, context).ok for i in items]


def verifier_judge(verifier: CitationVerifier, passages: list[Passage]):
    """All claims in one verify() call, one per line (each line is its own sentence block), so the
    embedder runs batched; the result is sliced back per claim."""
    def judge_all(items: list[Item]) -> list[bool]:
        counts = [len(parse_sentences(neutralise(i.claim))) for i in items]
        v = verifier.verify("\n".join(i.claim for i in items), passages)
        assert len(v.sentences) == sum(counts), "claims split differently when joined"
        out, pos = [], 0
        for n in counts:
            out.append(n > 0 and all(s.supported for s in v.sentences[pos:pos + n]))
            pos += n
        return out
    return judge_all


def _assert_rates(r: Rates, label: str) -> None:
    print("\n" + r.line(label))
    assert r.n_perturbed >= 30 and r.n_true >= 30, f"{label}: too few items to measure ({r})"
    assert r.flagged >= TARGET and r.passed >= TARGET, r.line(label) + "\n" + "\n".join(r.misses)


def _squad_chunks(title: str, text: str) -> list[Chunk]:
    out, pos = [], 0
    for i, para in enumerate(text.split("\n\n")):
        start = text.index(para, pos)
        out.append(Chunk(chunk_id=f"{title}:{i}", doc_id=title, title=title, ordinal=i, start=start,
                         end=start + len(para), text=para))
        pos = start + len(para)
    return out


# ---------------------------------------------------------------------------------- the guard, pure
def test_issue_example_howell_given_yun_suns_words_is_flagged():
    text = article_text()
    yun = next(s for s, _ in sentences_of(text) if s.startswith("Yun Sun"))
    prev = next(p for s, p in sentences_of(text) if s.startswith("Yun Sun"))
    v = check(HOWELL_CLAIM, yun, prev, text)
    assert not v.ok
    assert "howell" in v.reason() and "yun sun" in v.misattributed
    assert check(yun, yun, prev, text).ok


def test_speaker_swap_is_caught_even_when_the_name_is_in_the_neighbour():
    source = '"But they do know that China plays an irreplaceable role for both Russia and North Korea," she added.'
    neighbour = ("Yun Sun, director of the China program at the Washington-based Stimson Center, said China "
                 "doesn't feel it can control the deepening engagement. Edward Howell disagreed.")
    assert check("Yun Sun said China plays an irreplaceable role for both Russia and North Korea.", source, neighbour).ok
    v = check("Edward Howell said China plays an irreplaceable role for both Russia and North Korea.", source, neighbour)
    assert v.misattributed and not v.missing


@pytest.mark.parametrize(
    ("claim", "source", "ok"),
    [
        ("Russia received over ten thousand containers.", "Russia has received over 10,000 shipping containers.", True),
        ("Russia received over 10000 containers.", "Russia has received over 10,000 shipping containers.", True),
        ("Russia received over 1,000 containers.", "Russia has received over 10,000 shipping containers.", False),
        ("He was the first leader to visit in fourteen years.", "The first leader to visit in 14 years.", True),
        ("He was the first leader to visit in 15 years.", "The first leader to visit in fourteen years.", False),
        ("It weighed 260 thousand metric tons.", "It was 260,000 metric tons of munitions.", True),
        ("The span is 312 feet long.", "The bridge spans 312 metres.", False),
        ("The span is 312 m long.", "The bridge spans 312 metres.", True),
        ("The ferry leaves at 6:40 am.", "The first ferry leaves at 6.40am each morning.", True),
        ("The ferry leaves at 7:40 am.", "The first ferry leaves at 6.40am each morning.", False),
        ("The statement came in March.", "According to a US statement in February, Russia received them.", False),
        ("Beijing declined to comment.", "China's Foreign Ministry declined to comment on the treaty.", True),
        ("Moscow declined to comment.", "China's Foreign Ministry declined to comment on the treaty.", False),
        ("Despite the pact, Kim was muted.", "Despite the pact, Putin was muted.", False),
        ("Growth was 3.5 percent.", "Growth was 3.5%.", True),
        ("Growth was 35 percent.", "Growth was 3.5%.", False),
    ],
)
def test_numbers_units_times_places(claim, source, ok):
    assert check(claim, source).ok is ok, check(claim, source).reason()


def test_facts_normalise_number_forms_and_speakers():
    f = facts('"Any such meeting will also include discussion of China," said Edward Howell, a lecturer at Oxford.')
    assert [str(s) for s in f.speakers] == ["edward howell"]
    assert {str(q) for q in facts("two hundred and sixty thousand tons, 1.5 million people").quantities} == {
        "260000 t", "1500000"}
    known = midsentence_caps(article_text())  # "Kim" opens the sentence: the article shows it is a name
    assert facts("Kim, meanwhile, hailed the alliance.", known).speakers[0].words == ("kim",)


def test_article_perturbations_through_the_guard():
    text = article_text()
    _assert_rates(rates(items_for(text), guard_judge(text)), "article, guard")


def test_second_bundled_document_perturbations_through_the_guard():
    """The bridge article has the clock times and units the first one lacks (times are swapped too)."""
    text = BRIDGE.read_text("utf-8")
    assert any(i.kind == "time" for i in perturbations(text, random.Random(SEED)))
    _assert_rates(rates(items_for(text), guard_judge(text)), "bridge article, guard")


def _over_documents(groups: list[tuple[list[Item], object]]) -> Rates:
    """Rates over several documents, each judged in its own context."""
    items = [i for g, _ in groups for i in g]
    return rates(items, lambda _: [ok for g, judge_all in groups for ok in judge_all(g)])


@pytest.mark.parametrize("part", ["dev", "held-out"])
def test_squad_perturbations_through_the_guard(part):
    groups = [(items_for(text), guard_judge(text)) for text in squad_texts(part).values()]
    _assert_rates(_over_documents(groups), f"SQuAD {part}, guard")


# ---------------------------------------------------------------------------------- through the verifier
@pytest.fixture(scope="module")
def verifier(article_assistant) -> CitationVerifier:
    return article_assistant.verifier


@pytest.mark.parametrize("doc", [ARTICLE, BRIDGE], ids=["article", "bridge"])
def test_bundled_perturbations_through_the_verifier(doc, article_library, verifier):
    store = article_library.store
    passages = [Passage(chunk=c, score=1.0, rank=k) for k, c in enumerate(store.chunks_of(doc.name), 1)]
    text = article_text() if doc == ARTICLE else doc.read_text("utf-8")
    _assert_rates(rates(items_for(body_text(text, passages)), verifier_judge(verifier, passages)),
                  f"{doc.stem}, verifier")


def body_text(text: str, passages: list[Passage]) -> str:
    """The document without its title line and datelines: fields of the document, never evidence, so a
    claim quoting them is rightly rejected (issue 29)."""
    title = passages[0].chunk.title if passages else ""
    return "\n".join(text[s:e] for s, e in body_sentences(text, title))


@pytest.mark.parametrize("part", ["dev", "held-out"])
def test_squad_perturbations_through_the_verifier(part, verifier):
    own = CitationVerifier(HeuristicScorer(SentenceBank(verifier.bank.embedder), min_dense=0.0, min_lexical=0.0,
                                          support_threshold=verifier.scorer.support_threshold))
    groups = []
    for title, text in squad_texts(part).items():
        passages = [Passage(chunk=c, score=1.0, rank=k) for k, c in enumerate(_squad_chunks(title, text), 1)]
        groups.append((items_for(text), verifier_judge(own, passages)))
    _assert_rates(_over_documents(groups), f"SQuAD {part}, verifier")


def test_verifier_flags_the_issue_example_and_keeps_the_true_sentence(article_library, verifier):
    store = article_library.store
    chunks = store.chunks_of(ARTICLE.name)
    passages = [Passage(chunk=c, score=1.0, rank=k) for k, c in enumerate(chunks, 1)]
    bad = verifier.verify(HOWELL_CLAIM + " [1]", passages)
    assert not bad.sentences[0].supported and not bad.citations
    yun = "Yun Sun said China doesn't feel it can control the deepening engagement between Russia and North Korea."
    good = verifier.verify(yun, passages)
    assert good.sentences[0].supported and "Yun Sun" in good.citations[0].text


def test_verifier_repairs_a_misattributed_citation_to_the_passage_with_the_right_speaker(verifier):
    def chunk(cid: str, text: str) -> Chunk:
        return Chunk(chunk_id=cid, doc_id=f"{cid}.txt", title=cid, ordinal=0, start=0, end=len(text), text=text)

    kim = chunk("kim", "Officials met in Pyongyang. Kim said the two countries had elevated their ties to a new level.")
    putin = chunk("putin", "The leaders signed the treaty. Putin said the two countries had elevated their ties to a new "
                           "level, after a long meeting in Pyongyang.")
    passages = [Passage(chunk=kim, score=1.0, rank=1), Passage(chunk=putin, score=0.5, rank=2)]
    claim = "Putin said the two countries had elevated their ties to a new level [1]."
    v = verifier.verify(claim, passages)
    assert v.sentences[0].supported and [c.chunk_id for c in v.citations] == ["putin"]  # [1] was Kim's words
    wrong = verifier.verify("Lavrov said the two countries had elevated their ties to a new level [1].", passages)
    assert not wrong.sentences[0].supported and not wrong.citations
