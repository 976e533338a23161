"""The LLM generator: an evidence-first prompt over a chat model.

Prompt shape, for quality, speed and safety:
- the system prompt (prompts/system.yaml) is first and never changes, so llama.cpp's prefix cache keeps
  it evaluated from one question to the next;
- the model sees only the best evidence sentences (from an EvidenceSelector: the extractive generator's
  ranking, so the sentence reader feeds it too), each with the sentence before it when it refers back,
  numbered by their passage so the [n] markers point where rag.verify.citations expects them. A small
  model given three sentences states the fact; given 1,200 characters it copies the wrong one. About 150
  prompt tokens after the system prompt keep time to first token low on a CPU;
- the per-question message opens with a fixed reminder of the rules and the opening delimiter, so they
  join the system prompt in the cached prefix (primed at warm-up): only the sources, the closing
  delimiter and the question are evaluated per question (issue 30). The sources sit inside explicit
  delimiters, marked as untrusted data; the question comes last. Quarantined sentences (addressed to an
  AI, index.quarantine) are never shown.
- No evidence sentence good enough for the extractive answer means no model call: NoAnswer.

The chat history is not sent: request.query is already the standalone (rewritten) question.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from core.language.names import REFERS_BACK
from core.language.terms import term_set
from core.types import GenerationRequest, NoAnswer, Notice, Piece
from index.quarantine import is_instruction
from index.sentences import body_sentences
from prompts import load_prompt
from rag.generate.chat import ChatModel
from rag.generate.protocol import Evidence, EvidenceSelector, Truncated
from rag.prompt_safety import prompt_safe

_clean = prompt_safe
class RankedEvidence:
    """EvidenceSelector over a sentence ranker with select(request) -> [.passage, .sentence, .text] and a
    SentenceBank (the extractive generator): its chosen sentences, each with its antecedent sentence."""

    def __init__(self, ranker) -> None:
        self.ranker = ranker

    def evidence(self, request: GenerationRequest) -> list[Evidence]:
        chosen = self.ranker.select(request)
        if not chosen:
            return []
        banks = self.ranker.bank.get([p.chunk for p in request.passages])
        out = []
        for c in chosen:
            texts = banks[c.passage].texts
            before = texts[c.sentence - 1] if c.sentence > 0 and REFERS_BACK.search(c.text) else ""
            out.append(Evidence(c.passage, c.text, before))
        return out


class LexicalEvidence:
    """The fallback EvidenceSelector (no embedder): sentences sharing the most terms with the question."""

    def __init__(self, max_sentences: int = 3) -> None:
        self.max_sentences = max_sentences

    def evidence(self, request: GenerationRequest) -> list[Evidence]:
        q = term_set(f"{request.question} {request.query}")
        scored = []  # (score, passage, position, sentence, previous sentence)
        for j, p in enumerate(request.passages):
            text = p.chunk.text
            sents = [text[s:e] for s, e in body_sentences(text, p.chunk.title)]
            sents = [t for t in sents if not is_instruction(t)]
            for i, t in enumerate(sents):
                before = sents[i - 1] if i > 0 and REFERS_BACK.search(t) else ""
                scored.append((len(q & term_set(t)) + 0.5 / (j + 1), j, i, t, before))
        best = sorted(scored, key=lambda x: (-x[0], x[1], x[2]))[: self.max_sentences]
        return [Evidence(j, t, before) for _, j, _, t, before in sorted(best, key=lambda x: (x[1], x[2]))]


class LLMGenerator:
    """rag.generate.protocol.Generator over any ChatModel (local llama.cpp or an OpenAI-compatible server)."""

    def __init__(
        self,
        chat: ChatModel,
        max_tokens: int = 256,
        *,
        name: str = "local",
        evidence: EvidenceSelector | None = None,
        max_passages: int = 5,
    ) -> None:
        self.chat = chat  # public so the follow-up rewriter can share the one loaded model
        self.name = name
        self.max_tokens = max_tokens
        self.selector: EvidenceSelector = evidence or LexicalEvidence()
        self.max_passages = max_passages
        self._system = load_prompt("system")
        self._answer = load_prompt("answer")

    def warm_up(self) -> None:
        warm = getattr(self.chat, "warm_up", None)
        if warm is not None:
            warm()
        prime = getattr(self.chat, "prime", None)  # in-process models only: no request to a server at start-up
        if prime is not None:
            prime(self.fixed_prefix())

    def generate(self, request: GenerationRequest) -> Iterator[Piece]:
        request = _first_passages(request, self.max_passages)
        evidence = self.evidence(request)
        if not evidence:  # the best sentence does not answer: abstain without a model call
            yield NoAnswer(request.no_answer)
            return
        messages = self.messages(request, evidence)
        max_tokens = min(self.max_tokens, request.max_tokens) if request.max_tokens else self.max_tokens
        first = True
        for piece in self.chat.chat(messages, max_tokens):
            if isinstance(piece, Truncated):
                yield Notice(f"The answer was cut at max_answer_tokens={request.max_tokens or self.max_tokens} "
                             "(raise RAG_MAX_ANSWER_TOKENS for longer answers).")
                continue
            if first:
                piece = piece.lstrip()
                if not piece:
                    continue
                first = False
            yield piece

    def evidence(self, request: GenerationRequest) -> list[Evidence]:
        """The selector's sentences, minus anything quarantined (a selector over an old bank may let one by)."""
        return [Evidence(e.passage, e.text, "" if is_instruction(e.before) else e.before)
                for e in self.selector.evidence(request) if not is_instruction(e.text)]

    # --- prompt rendering (public: benchmarks replay the exact prompts through the raw model) ---

    def fixed_prefix(self) -> list[dict]:
        """The messages every prompt starts with: the system prompt and the answer prompt up to its sources
        (the reminder and the opening delimiter). Evaluated once at warm-up and kept in the KV cache."""
        head = self._answer.template.split("{sources}", 1)[0]
        return [{"role": "system", "content": self._system.render().strip()}, {"role": "user", "content": head}]

    def messages(self, request: GenerationRequest, evidence: list[Evidence] | None = None) -> list[dict]:
        request = _first_passages(request, self.max_passages)
        question = _clean(request.query or request.question)
        ev = self.evidence(request) if evidence is None else evidence
        return [
            {"role": "system", "content": self._system.render().strip()},
            {"role": "user", "content": self._answer.render(sources=self.render_sources(request, ev),
                                                            question=question).strip()},
        ]

    def render_sources(self, request: GenerationRequest, evidence: list[Evidence] | None = None) -> str:
        """One line per passage used: "[n] (title) sentences", in passage order, sentences in source order."""
        ev = self.evidence(request) if evidence is None else evidence
        lines: dict[int, list[str]] = {}
        for e in ev:
            parts = lines.setdefault(e.passage, [])
            for text in (e.before, e.text):
                text = _clean(text)
                if text and text not in parts:
                    parts.append(text)
        out, previous = [], None
        # titles only tell documents apart: with one document they cost tokens, and Qwen 0.5B copied the
        # title into its first sentence, which then failed verification after the whole draft (issue 30)
        one_document = len({request.passages[j].chunk.title for j in lines}) == 1
        for j in sorted(lines):
            title = "" if one_document else request.passages[j].chunk.title
            # a title repeated on every passage of one document only costs prompt tokens
            head = f"[{j + 1}] ({_clean(title)}) " if title and title != previous else f"[{j + 1}] "
            previous = title
            out.append(head + " ".join(lines[j]))
        return "\n".join(out) if out else "(no sources)"


def _first_passages(request: GenerationRequest, n: int) -> GenerationRequest:
    if len(request.passages) <= n:
        return request
    return replace(request, passages=request.passages[:n])
