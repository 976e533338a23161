"""Optional LLM-judge metrics (faithfulness, answer relevancy) through ragas.

Never required: ragas is not a dependency, and the judge runs only when the user asks for it (`--judge`)
and an OpenAI-compatible LLM is configured. Both conditions fail with a message that says what to do.
Written against the ragas 0.2+ API (EvaluationDataset, evaluate, LangchainLLMWrapper).
"""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError
from core.settings import Settings
from rag.eval.matching import strip_markers
from rag.eval.metrics import case_key


def check_judge_available(settings: Settings) -> None:
    """Raise ConfigError unless an LLM endpoint is configured and ragas imports."""
    if not settings.llm_url:
        raise ConfigError(
            "--judge needs an OpenAI-compatible LLM to act as judge: set RAG_LLM_URL (and RAG_LLM_MODEL, "
            "RAG_LLM_API_KEY if the server wants one), or drop --judge"
        )
    try:
        import ragas  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            "--judge needs the optional package ragas, which is not installed: `.venv/bin/pip install ragas` "
            "(the built-in metrics do not need it), or drop --judge"
        ) from e


def _judge_llm(settings: Settings) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=settings.llm_url, api_key=settings.llm_api_key or "not-needed",
                      model=settings.llm_model or "default", timeout=settings.llm_timeout,
                      max_retries=settings.llm_retries, temperature=0)


def judge_records(records: list[dict[str, Any]], settings: Settings, embedder: Any) -> dict[str, Any]:
    """Faithfulness and answer relevancy for every non-abstained answer; overall means and per case."""
    check_judge_available(settings)
    from langchain_core.embeddings import Embeddings
    from ragas import EvaluationDataset, evaluate
    from ragas.embeddings import LangchainEmbeddingsWrapper
    from ragas.llms import LangchainLLMWrapper
    from ragas.metrics import Faithfulness, ResponseRelevancy

    class _IndexEmbeddings(Embeddings):
        """The index's own embedder, so the judge needs no second (downloaded) embedding model."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [list(map(float, v)) for v in embedder.embed(list(texts))]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    judged = [r for r in records if not r.get("abstained") and r.get("answer")]
    if not judged:
        return {"faithfulness": None, "answer_relevancy": None, "per_case": {}}
    samples = [
        {
            "user_input": r["question"],
            "response": strip_markers(r["answer"]),
            "retrieved_contexts": [c["text"] for c in r["citations"]] or [p["text"] for p in r["retrieved"]],
        }
        for r in judged
    ]
    llm = _judge_llm(settings)
    result = evaluate(
        EvaluationDataset.from_list(samples),
        metrics=[Faithfulness(), ResponseRelevancy()],
        llm=LangchainLLMWrapper(llm),
        embeddings=LangchainEmbeddingsWrapper(_IndexEmbeddings()),
        show_progress=True,
    )
    df = result.to_pandas()
    per_case = {}
    for r, (_, row) in zip(judged, df.iterrows(), strict=True):
        per_case[case_key(r)] = {
            "faithfulness": _num(row.get("faithfulness")),
            "answer_relevancy": _num(row.get("answer_relevancy")),
        }

    def mean(name: str) -> float | None:
        vals = [v[name] for v in per_case.values() if v[name] is not None]
        return sum(vals) / len(vals) if vals else None

    return {"faithfulness": mean("faithfulness"), "answer_relevancy": mean("answer_relevancy"), "per_case": per_case}


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f  # NaN: the judge failed on this case
