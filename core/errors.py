"""The project's error hierarchy. Every message says what went wrong and how to fix it.

Errors are raised deep inside and translated once, at the CLI or UI edge: at_the_edge() for every
command-line entry point; the HTTP adapters map them to status codes (ui/openai_api.py, ui/mcp_tools.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class RagError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(RagError):
    """A setting is missing, malformed or contradictory."""


class PromptError(ConfigError):
    """A prompt file is missing, or its declared variables disagree with its template."""


class InputError(RagError):
    """A question or request from the user cannot be processed as given."""


class IngestError(RagError):
    """A document could not be loaded, cleaned or indexed. Names the file."""

    def __init__(self, path: str, problem: str, fix: str = "") -> None:
        self.path = path
        self.problem = problem
        self.fix = fix
        msg = f"{path}: {problem}"
        if fix:
            msg += f". {fix}"
        super().__init__(msg)


class IndexMissingError(RagError):
    """No index exists in the data directory yet."""


class IndexMismatchError(RagError):
    """The index was built with another model, dimension, chunker or schema."""


class IndexCorruptError(RagError):
    """Chroma, BM25 and the manifest disagree in a way that cannot be repaired automatically."""


class StoreUnavailableError(RagError):
    """The vector store (for example a Chroma server) cannot be reached."""


class StoreBusyError(StoreUnavailableError):
    """Other writers kept committing to the shared store while this write tried to; retrying is safe."""


class StorageError(RagError):
    """The data directory cannot be written (read-only, full, or permissions)."""


class ModelError(RagError):
    """A model file is missing, corrupt (sha256 mismatch) or cannot be loaded."""


class GeneratorError(RagError):
    """The answer generator failed (for example a remote LLM is down, slow or erroring)."""


class LimitError(InputError):
    """A configured limit (question length, upload size, uploads per session...) was hit."""


def question_too_long(chars: int, limit: int, what: str = "question") -> LimitError:
    """The one message for a question (or search query) over max_question_chars: never cut silently, every
    client (page, /v1, MCP, command line) says the size, the limit, the setting and the fix."""
    return LimitError(f"the {what} is {chars} characters; the limit is {limit} (setting max_question_chars / "
                      f"RAG_MAX_QUESTION_CHARS). Shorten it: ask about one point at a time, or quote only the "
                      "passage you mean")


class UnknownCollectionError(InputError):
    """A question names a collection (a separate set of documents) that does not exist."""


def at_the_edge(command: Callable[[], int], prefix: str = "") -> int:
    """Run an entry point's command and translate this project's errors once, the same way everywhere:
    a RagError prints "[prefix: ]error: <message with its fix>" on stderr and exits 2; Ctrl-C exits 130.
    Anything else is a bug and keeps its traceback."""
    try:
        return command()
    except RagError as e:
        print(f"{prefix + ': ' if prefix else ''}error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
