"""The LangChain adapter: the standard retriever tests from langchain-tests, plus our metadata."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.retrieve.langchain_retriever import RagRetriever


# The package's async test is unmarked and may not be overridden; this project runs pytest-asyncio in
# strict mode, so the class is marked (the plugin's note about its sync tests is silenced).
@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:.*marked with '@pytest.mark.asyncio' but it is not an async function")
class TestRagRetrieverStandard(RetrieversIntegrationTests):
    """Runs langchain-tests' RetrieversIntegrationTests against the hybrid retriever over the article."""

    @pytest.fixture(autouse=True)
    def _hybrid(self, article_assistant) -> None:
        type(self).hybrid = article_assistant.retriever

    @property
    def retriever_constructor(self) -> type[RagRetriever]:
        return RagRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"retriever": self.hybrid, "k": 4}

    @property
    def retriever_query_example(self) -> str:
        return "What did China's Foreign Ministry say about the treaty?"


def test_documents_carry_our_metadata(article_assistant, article_library):
    docs = RagRetriever(retriever=article_assistant.retriever, k=3).invoke(
        "How many shipping containers has Russia received?"
    )
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert "10,000 shipping containers" in top.page_content
    m = top.metadata
    assert m["rank"] == 1 and m["chunk_id"] == top.id and m["doc_id"] and m["title"]
    doc = article_library.document(m["doc_id"])
    assert doc.text[m["start"]:m["end"]] == top.page_content
    assert m["dense"] > 0 and m["bm25"] > 0 and m["score"] > 0


def test_plugs_into_a_langchain_chain(article_assistant):
    from langchain_core.runnables import RunnableLambda

    chain = RagRetriever(retriever=article_assistant.retriever, k=2) | RunnableLambda(
        lambda docs: [d.metadata["chunk_id"] for d in docs]
    )
    ids = chain.invoke("Who is Yun Sun?")
    assert len(ids) == 2 and len(set(ids)) == 2
