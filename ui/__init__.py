"""The Gradio chat UI: an adapter over rag.Assistant (no retrieval or citation logic here)."""
