"""The reader's training data: SQuAD articles split by article, and the pools of (question or claim,
sentence in context) rows built from them as the product would see them. Used by `python -m training train-reader`
(training/train_reader.py); see that module for the recipe."""


from __future__ import annotations

import hashlib
import json
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.language.answer_types import WH_TYPES
from core.language.terms import coverage, term_set
from core.types import Chunk
from rag.reader.evidence import ChunkSentences, SentenceBank
from rag.reader.features import FEATURES, SENT_TYPES, features
from rag.reader.model import READER_DIR

CASES = READER_DIR / "cases.jsonl"
SEED = 18
SPLIT = (32, 8, 8)  # articles: train, validation, test
POOL = 5  # passages per pool, as settings.k
# trees see the features before the question-type x sentence-type crosses (they build interactions
# themselves); the crosses are there for the logistic-regression candidate
N_TREE = len(FEATURES) - len(WH_TYPES) * len(SENT_TYPES)


class CachedEmbedder:
    """The packaged MiniLM with an on-disk cache (texts -> vectors), so re-runs skip the slow part."""

    def __init__(self, embedder, path: Path) -> None:
        self.embedder = embedder
        self.path = path
        self.cache: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                self.cache = dict(zip(z["texts"].tolist(), z["vecs"], strict=True))

    def embed(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.embedder.embed(todo), strict=True))
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self.cache)
        np.savez(self.path, texts=np.asarray(texts), vecs=np.stack([self.cache[t] for t in texts]))


@dataclass
class Question:
    qid: str
    text: str
    article: str
    paragraph: int  # index into the article's paragraphs (-1: a hand-written case's own passage)
    answers: list[tuple[str, int]]  # (text, start in the paragraph)
    vec: np.ndarray | None = None


@dataclass
class Article:
    title: str
    chunks: list[Chunk]
    css: list[ChunkSentences] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


def build_articles(data: dict) -> list[Article]:
    out = []
    for a in data["data"]:
        title = a["title"]
        art = Article(title, [])
        for i, p in enumerate(a["paragraphs"]):
            ctx = p["context"]
            art.chunks.append(Chunk(f"squad:{title}:{i}", title, title, i, 0, len(ctx), ctx))
            for qa in p["qas"]:
                answers = [(x["text"], int(x["answer_start"])) for x in qa["answers"]]
                art.questions.append(Question(qa["id"], qa["question"], title, i, answers))
        out.append(art)
    return out


def split_articles(articles: list[Article], seed: int = SEED) -> dict[str, list[Article]]:
    order = sorted(articles, key=lambda a: a.title)
    random.Random(seed).shuffle(order)
    a, b, _ = SPLIT
    return {"train": order[:a], "val": order[a:a + b], "test": order[a + b:]}


def answer_sentences(cs: ChunkSentences, answers: list[tuple[str, int]]) -> set[int]:
    """Sentences of the paragraph that hold an answer span's start."""
    out = set()
    for _, start in answers:
        for i, (s, e) in enumerate(cs.spans):
            if s <= start < e:
                out.add(i)
    return out


def rank_passages(q: Question, css: list[ChunkSentences], k: int = POOL) -> list[int]:
    """Retrieval-like order of passages: best sentence cosine + share of question words in the passage."""
    q_terms = term_set(q.text)
    scores = [float(cs.cosines(q.vec).max()) + 0.5 * coverage(q_terms, cs.chunk_terms) if cs.texts else -1.0
              for cs in css]
    return sorted(range(len(css)), key=lambda i: -scores[i])[:k]


@dataclass
class Pool:
    kind: str  # "answerable", "unanswerable", "claim" or "claim_swapped"
    qid: str
    X: np.ndarray
    y: np.ndarray
    keys: list[tuple[int, int]]
    heuristic: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _labels(keys: list[tuple[int, int]], gold_pos: int | None, gold: set[int]) -> np.ndarray:
    return np.asarray([float(j == gold_pos and i in gold) for j, i in keys])


def question_pool(q: Question, art: Article, *, force_gold: bool = True) -> tuple[list[ChunkSentences], int | None]:
    """The question's 5 retrieval-like passages of its own article; returns them and the gold's position."""
    top = rank_passages(q, art.css)
    if force_gold and q.paragraph not in top:
        top[-1] = q.paragraph
    css = [art.css[i] for i in top]
    return css, (top.index(q.paragraph) if q.paragraph in top else None)


def heuristic_scores(q: Question, css: list[ChunkSentences], keys: list[tuple[int, int]]) -> np.ndarray:
    """Today's extractive score (0.6 cosine + 0.4 overlap, answer-type filter) for the same sentences."""
    from core.language.answer_types import answer_type
    from core.language.names import REFERS_BACK as _REFERS_BACK

    wants = answer_type(q.text)
    q_terms = term_set(q.text)
    cos = [cs.cosines(q.vec) for cs in css]
    out = []
    for j, i in keys:
        cs = css[j]
        text, terms = cs.texts[i], cs.terms[i]
        if i > 0 and _REFERS_BACK.search(text):
            terms = terms | cs.terms[i - 1]
        lex = 0.75 * coverage(q_terms, terms) + 0.25 * coverage(q_terms, cs.chunk_terms)
        ok = not (wants and not wants.search(text)) and 20 <= len(text) <= 1000
        out.append(0.6 * float(cos[j][i]) + 0.4 * lex if ok else -1.0)
    return np.asarray(out)


def candidate_passages(q, art: Article, *, force_gold: bool, whole_article: bool, gold_only: bool = False):
    """(passages, position of the gold one or None, gold sentence indexes) for an answerable question: its
    retrieval-like pool, with whole_article every passage of its article, best first, or with gold_only its
    own paragraph alone (SQuAD's usual sentence-selection setting)."""
    if gold_only:
        css, pos = [art.css[q.paragraph]], 0
    elif whole_article:
        order = rank_passages(q, art.css, k=len(art.css))
        css, pos = [art.css[i] for i in order], order.index(q.paragraph)
    else:
        css, pos = question_pool(q, art, force_gold=force_gold)
    return css, pos, answer_sentences(art.css[q.paragraph], q.answers)


def answerable_pools(arts: list[Article], *, force_gold: bool = True, whole_article: bool = False) -> list[Pool]:
    """Each question against its retrieval-like pool (or, whole_article, every passage of its article)."""
    pools = []
    for art in arts:
        for q in art.questions:
            if q.paragraph < 0:
                continue
            css, pos, gold = candidate_passages(q, art, force_gold=force_gold, whole_article=whole_article)
            X, keys, _, _ = features(q.text, q.vec, css)
            pools.append(Pool("answerable", q.qid, X, _labels(keys, pos, gold), keys,
                              heuristic_scores(q, css, keys)))
    return pools


def unanswerable_pools(arts: list[Article], every: int = 2) -> list[Pool]:
    """Questions against the best passages of the other articles of the same split."""
    pools = []
    for art in arts:
        others = [cs for o in arts if o is not art for cs in o.css]
        for n, q in enumerate(art.questions):
            if q.paragraph < 0 or n % every:
                continue
            css = [others[i] for i in rank_passages(q, others)]
            X, keys, _, _ = features(q.text, q.vec, css)
            pools.append(Pool("unanswerable", q.qid, X, np.zeros(len(keys)), keys, heuristic_scores(q, css, keys)))
    return pools


def claim_pools(arts: list[Article], embed: Callable[[list[str]], np.ndarray], every: int = 3) -> list[Pool]:
    """Verifier pairs: true claims (the answer sentence; "question: answer.") and answer-swapped ones."""
    specs = []
    for art in arts:
        answers = [a for q in art.questions if q.paragraph >= 0 for a, _ in q.answers[:1]]
        rng = random.Random(f"{SEED}:{art.title}")
        for n, q in enumerate(art.questions):
            if q.paragraph < 0 or n % every:
                continue
            cs = art.css[q.paragraph]
            gold = answer_sentences(cs, q.answers)
            if not gold:
                continue
            ans = q.answers[0][0]
            sent = cs.texts[min(gold)]
            other = next((a for a in rng.sample(answers, min(20, len(answers)))
                          if a.lower() not in sent.lower() and ans.lower() not in a.lower()), None)
            qa = f"{q.text.rstrip(' ?')}: {ans}."
            specs += [(q, art, sent, True), (q, art, qa, True)]
            if other and ans in sent:
                specs += [(q, art, sent.replace(ans, other), False), (q, art, f"{q.text.rstrip(' ?')}: {other}.", False)]
    vecs = embed([s for _, _, s, _ in specs])
    pools = []
    for (q, art, claim, true), vec in zip(specs, vecs, strict=True):
        css, pos = question_pool(Question(q.qid, claim, q.article, q.paragraph, q.answers, vec), art)
        gold = answer_sentences(art.css[q.paragraph], q.answers) if true else set()
        X, keys, _, _ = features(claim, vec, css, claim=True)
        pools.append(Pool("claim" if true else "claim_swapped", q.qid, X, _labels(keys, pos, gold), keys))
    return pools


def case_pools(cases: list[Article]) -> list[Pool]:
    """Each hand-written case against its own passage; unanswerable cases are all negative."""
    pools = []
    for art in cases:
        q = art.questions[0]
        gold = answer_sentences(art.css[0], q.answers) if q.paragraph == 0 else set()
        X, keys, _, _ = features(q.text, q.vec, art.css)
        pools.append(Pool("case", q.qid, X, _labels(keys, 0, gold), keys))
    return pools


def load_cases(path: Path = CASES) -> list[Article]:
    """Hand-written labelled cases (units, clock times, governments by capital, who-said): one passage
    each, train only. Each line: {"passage": ..., "question": ..., "answer": verbatim phrase or null}."""
    arts = []
    for n, line in enumerate(path.read_text("utf-8").splitlines()):
        if not line.strip():
            continue
        c = json.loads(line)
        title = f"case{n}"
        chunk = Chunk(f"case:{n}", title, title, 0, 0, len(c["passage"]), c["passage"])
        ans = c.get("answer")
        answers = [(ans, c["passage"].index(ans))] if ans else []
        q = Question(f"case{n}", c["question"], title, 0 if ans else -1, answers)
        arts.append(Article(title, [chunk], questions=[q]))
    return arts


def prepare(articles: list[Article], embedder) -> None:
    bank = SentenceBank(embedder, max_chunks=10**6)
    css = bank.get([c for a in articles for c in a.chunks])
    k = 0
    for a in articles:
        a.css = css[k:k + len(a.chunks)]
        k += len(a.chunks)
    qs = [q for a in articles for q in a.questions]
    for q, v in zip(qs, embedder.embed([q.text for q in qs]), strict=True):
        q.vec = v


def stack(pools: list[Pool]) -> tuple[np.ndarray, np.ndarray]:
    X = np.concatenate([p.X for p in pools if len(p.X)])
    y = np.concatenate([p.y for p in pools if len(p.X)])
    return X, y


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_implementation()} {platform.python_version()}"


def now() -> float:
    return time.perf_counter()
