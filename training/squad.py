"""SQuAD v1.1 dev, the development data behind calibration, the reader and the benchmarks' corpora.

It lives in ../shared/data, beside the checkout, never in the repository (it carries BIG-bench's canary);
the product runs without it, the dev commands say how to point at it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from core.errors import ConfigError
from core.settings import PROJECT_ROOT

SQUAD = PROJECT_ROOT.parent / "shared" / "data" / "squaddev_v1.1.json.gz"


def load_squad(path: Path, command: str) -> dict:
    """The parsed file (.json or .json.gz); ConfigError naming `command`'s --squad flag when it is absent."""
    if not path.is_file():
        raise ConfigError(f"SQuAD dev set not found at {path}: pass --squad PATH ({command} is a dev command)")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)
