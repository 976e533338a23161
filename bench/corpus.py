"""Benchmark corpora of N passages built from real text, and real questions to ask them.

BM25 and HNSW behave differently on random strings (no shared vocabulary, no Zipf law, no near
neighbours), so the large corpora are made of real sentences only:
- SQuAD v1.1 dev paragraphs, verbatim, when ../shared/data is present (2,067 Wikipedia paragraphs);
- recombinations of real sentences (the bundled article's, plus SQuAD's when present) into new
  paragraphs of 400-690 characters, so that the chunker makes about one chunk per paragraph.
Without ../shared the corpus is built from the article alone (repetitive, but still real English).

Everything is deterministic: the sentence picks come from a PRNG seeded by a hash of the corpus spec.
Documents hold ~50 paragraphs each, so per-document costs (one upsert, one text file) stay realistic.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.settings import BUNDLED_CORPUS, PROJECT_ROOT
from index.chunking import ChunkerConfig, chunk_spans
from index.cleaning import clean
from index.sentences import split_sentences
from training.squad import SQUAD, load_squad

CORPUS_VERSION = 1
ARTICLE = BUNDLED_CORPUS / "elephant-in-the-room.txt"
SUITE = PROJECT_ROOT / "suites" / "article.yaml"
PARAS_PER_DOC = 50
_MIN_PARA, _MAX_PARA = 400, 690

# Used only when suites/article.yaml is not there yet: real questions about the article.
_ARTICLE_QUESTIONS = (
    "How many shipping containers has Russia received from North Korea?",
    "What did Japan voice about Putin's openness to military technology cooperation?",
    "In what year was North Korea's mutual defense treaty with China signed?",
    "How did China's Foreign Ministry describe the treaty?",
    "What role does Yun Sun say China plays for Russia and North Korea?",
    "Where does Edward Howell teach?",
    "What car did Putin ride in through Pyongyang?",
    "How did South Korea respond to the defense pact?",
    "What did Kim call the new alliance?",
    "Who is Liu Dongshu?",
    "Why was China's reaction muted?",
    "What did Putin and Kim pledge in the treaty?",
)


def article_text() -> str:
    return clean(ARTICLE.read_text("utf-8"))


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text) if 30 <= e - s <= 400]


def squad_articles(path: Path = SQUAD) -> list[dict]:
    """SQuAD's articles, or [] when ../shared is not there (the project must run without it)."""
    if not path.is_file():
        return []
    return load_squad(path, "bench")["data"]


@dataclass(frozen=True)
class Sources:
    article_paragraphs: list[str]
    squad_paragraphs: list[str]
    sentences: list[str]  # the pool recombined into new paragraphs

    @classmethod
    def load(cls, use_squad: bool = True, squad_limit: int = 0) -> Sources:
        """squad_limit > 0 keeps the first N SQuAD paragraphs (a smaller sentence pool to embed)."""
        body = article_text()
        paras = [p.strip() for p in body.split("\n\n")[1:] if len(p.strip()) >= 80]  # [0] is the title
        squad = [" ".join(p["context"].split()) for a in squad_articles() for p in a["paragraphs"]] if use_squad else []
        squad = squad[:squad_limit] if squad_limit > 0 else squad
        pool = _sentences(body) + [s for p in squad for s in _sentences(p)]
        return cls(paras, squad, pool)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (self.article_paragraphs, self.squad_paragraphs, self.sentences):
            h.update(str(len(part)).encode())
            h.update("\x00".join(part).encode())
        return h.hexdigest()[:12]


def _fit(paragraph: str) -> Iterator[str]:
    """A real paragraph as one or more pieces of at most _MAX_PARA characters, cut at sentence ends."""
    if len(paragraph) <= _MAX_PARA:
        yield paragraph
        return
    piece = ""
    for s in _sentences(paragraph) or [paragraph[:_MAX_PARA]]:
        if piece and len(piece) + 1 + len(s) > _MAX_PARA:
            yield piece
            piece = ""
        piece = f"{piece} {s}".strip() if len(s) <= _MAX_PARA else piece
    if piece:
        yield piece


def paragraphs(src: Sources, seed: int) -> Iterator[str]:
    """An endless stream of paragraphs: real ones first interleaved with recombined ones, then recombined."""
    rng = random.Random(seed)
    real = [p for para in src.squad_paragraphs + src.article_paragraphs for p in _fit(para)][::-1]
    pool = src.sentences
    i = 0
    while True:
        if i % 2 == 0 and real:
            yield real.pop()
        else:
            out = ""
            while len(out) < _MIN_PARA:
                s = pool[rng.randrange(len(pool))]
                if len(out) + 1 + len(s) > _MAX_PARA:
                    if out:
                        break
                    continue
                out = f"{out} {s}".strip()
            yield out
        i += 1


@dataclass(frozen=True)
class CorpusSpec:
    passages: int
    seed: int = 0
    use_squad: bool = True
    chunk_size: int = 700
    chunk_overlap: int = 150
    vectors: str = "model"  # "model": the pipeline embeds every chunk; "sentence-mean": see bench/indexing.py

    def key(self, src: Sources) -> str:
        raw = json.dumps([CORPUS_VERSION, self.passages, self.seed, self.chunk_size, self.chunk_overlap,
                          src.fingerprint(), self.vectors])
        tag = "" if self.vectors == "model" else "-sm"
        return f"{self.passages}{tag}-{hashlib.sha256(raw.encode()).hexdigest()[:10]}"


def write_corpus(spec: CorpusSpec, folder: Path, src: Sources | None = None) -> dict:
    """Write .txt documents to `folder` whose chunks total exactly spec.passages (as the chunker counts).

    Returns a description: documents, passages, characters and where the text came from.
    """
    src = src or Sources.load(spec.use_squad)
    seed = int(hashlib.sha256(f"bench-corpus:{spec.seed}:{spec.passages}".encode()).hexdigest()[:8], 16)
    cfg = ChunkerConfig(spec.chunk_size, spec.chunk_overlap)
    folder.mkdir(parents=True, exist_ok=True)
    stream = paragraphs(src, seed)
    total = n_doc = chars = 0
    while total < spec.passages:
        paras = [next(stream) for _ in range(PARAS_PER_DOC)]
        title = f"Benchmark corpus part {n_doc + 1:05d}"
        # The last document is shortened until the total is exact (chunk counts are monotonic in length).
        while paras:
            text = clean(title + "\n\n" + "\n\n".join(paras))
            n = len(chunk_spans(text, cfg))
            if total + n <= spec.passages:
                break
            paras = paras[:-1]
        if not paras:
            break
        (folder / f"part-{n_doc + 1:05d}.txt").write_text(text + "\n", encoding="utf-8")
        total += n
        chars += len(text)
        n_doc += 1
    return {"passages": total, "documents": n_doc, "chars": chars,
            "sources": {"article_paragraphs": len(src.article_paragraphs),
                        "squad_paragraphs": len(src.squad_paragraphs), "sentence_pool": len(src.sentences)}}


def queries(n: int, seed: int = 0, use_squad: bool = True) -> list[str]:
    """n distinct real questions: the bundled suite's (or a built-in set) interleaved with SQuAD's."""
    article_qs = list(_ARTICLE_QUESTIONS)
    if SUITE.is_file():
        try:
            from rag.eval.suite import load_suite

            article_qs = [c.question for c in load_suite(SUITE).cases] + article_qs
        except Exception:  # a suite being written right now must not break the benchmark
            pass
    squad_qs = [q["question"].strip() for a in squad_articles() for p in a["paragraphs"] for q in p["qas"]] \
        if use_squad else []
    random.Random(seed).shuffle(squad_qs)
    out: list[str] = []
    seen: set[str] = set()
    a, s = iter(article_qs), iter(squad_qs)
    while len(out) < n:
        progressed = False
        for it in (a, s, s):  # two SQuAD questions per article one: the large corpora are mostly SQuAD-like
            q = next(it, None)
            if q is not None:
                progressed = True
                if q.lower() not in seen:
                    seen.add(q.lower())
                    out.append(q)
        if not progressed:
            break
    return out[:n]
