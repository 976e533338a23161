"""The Gradio chat UI: an adapter over rag.pipeline.Assistant (no retrieval or citation logic here)."""
