"""The Gradio chat UI: an adapter over rag.assistant.Assistant (no retrieval or citation logic here)."""
