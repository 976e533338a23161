"""The cross-encoder: a MiniLM fine-tuned here to score (question, sentence in context) pairs.

It reranks the shortlist the reader's trees pick (rag/reader/learned.py, mode `cascade`): reading the
question and the sentence together catches paraphrase the hand features miss. Trained by
`python -m training train-reader` (training/train_reader_ce.py) from the packaged MiniLM's first layers;
data/reader/card.md has the data and figures.

Served as an int8 ONNX graph (data/reader/cross_encoder.onnx) with onnxruntime + tokenizers: no torch on
the query path. The graph's sha256 sits in reader.json's `cross_encoder` entry and is checked on load.
Nothing loads at import; the constructor is cheap.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

from core.errors import ModelError
from index.embedding_onnx import padded_inputs

_FIX = "Restore it with `git checkout data/reader` or rebuild it with `python -m training train-reader`."
MAX_LEN = 80  # tokens per pair: question + sentence + the start of the previous sentence


def pair_text(sentence: str, previous: str = "") -> str:
    """The second segment: the sentence, then its predecessor (cut first when too long) for pronouns."""
    return f"{sentence} | {previous}" if previous else sentence


def make_tokenizer(tokenizer_json: Path, max_len: int = MAX_LEN):
    """The packaged MiniLM's tokenizer. Truncation cuts the longer side first: the sentence, for any question
    shorter than it (as in training); a question too long to fit is cut too instead of raising."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.enable_truncation(max_length=max_len, strategy="longest_first")
    tok.no_padding()
    return tok


def encode(tok, questions: list[str], seconds: list[str]) -> dict[str, np.ndarray]:
    """Padded model inputs for (question, second segment) pairs; shared by training and serving."""
    return padded_inputs(tok.encode_batch(list(zip(questions, seconds, strict=True))))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class CrossEncoder:
    """Logits for (question, sentence) pairs from the int8 ONNX graph; loads on first use."""

    def __init__(self, graph: Path, tokenizer_json: Path, sha256: str, *, threads: int = 1,
                 batch_size: int = 32) -> None:
        self.graph = Path(graph)
        self.tokenizer_json = Path(tokenizer_json)
        self.sha256 = sha256
        self.threads = threads  # intra-op threads when this is the only question being read
        self.batch_size = batch_size
        self._session = None  # `threads` threads: a question alone gets the cores
        self._narrow = None  # one thread: concurrent questions share the cores instead of oversubscribing them
        self._tok = None
        self._lock = threading.Lock()
        self._active = 0

    def warm_up(self) -> None:
        with self._lock:
            if self._session is None:
                self._check()
                self._tok = make_tokenizer(self.tokenizer_json)
                self._session = self._open(self.threads)
                self._narrow = self._session if self.threads == 1 else self._open(1)

    def _check(self) -> None:
        """The graph is there and is the one reader.json names (hashed once, not per session)."""
        if not self.graph.is_file():
            raise ModelError(f"the cross-encoder file {self.graph} is missing. {_FIX}")
        actual = sha256_file(self.graph)
        if actual != self.sha256:
            raise ModelError(f"the cross-encoder {self.graph} is corrupt: sha256 {actual[:12]}... does not match "
                             f"{self.sha256[:12]}... in reader.json. {_FIX}")
        if not self.tokenizer_json.is_file():
            raise ModelError(f"the MiniLM tokenizer {self.tokenizer_json} is missing: reinstall the embedding "
                             "model (`make install`)")

    def _open(self, threads: int):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(str(self.graph), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's exception types are not public API
            raise ModelError(f"the cross-encoder {self.graph} cannot be loaded ({e}). {_FIX}") from e
        return session

    def logits(self, questions: list[str], seconds: list[str]) -> np.ndarray:
        """One logit per pair (higher: the sentence more likely answers the question)."""
        self.warm_up()
        with self._lock:
            session = self._session if self._active == 0 else self._narrow
            self._active += 1
        try:
            return self._run(session, questions, seconds)
        finally:
            with self._lock:
                self._active -= 1

    def _run(self, session, questions: list[str], seconds: list[str]) -> np.ndarray:
        out = np.zeros(len(questions), dtype=np.float64)
        order = sorted(range(len(questions)), key=lambda i: -len(seconds[i]))  # similar lengths batch together
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            feed = encode(self._tok, [questions[i] for i in idx], [seconds[i] for i in idx])
            out[idx] = session.run(None, feed)[0].reshape(-1)
        return out
