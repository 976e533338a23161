"""The layout is the design: stages import downwards only, the answer path never sees the write side,
and functions stay short. Checked by reading every product module's import statements (AST, no imports).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lower layers never import higher ones: ui/service -> rag -> index -> (prompts) -> core.
LAYERS = {"core": 0, "prompts": 1, "index": 2, "rag": 3, "ui": 4}
LENGTH_CHECKED = (*LAYERS, "bench")
ANSWER_PATH = ("rag/assistant.py", "rag/retrieve/", "rag/generate/", "rag/verify/")
MAX_FUNCTION_LINES = 60
LAYOUT_MARK = "declarative layout"  # a def line carrying this comment is exempt from the length rule


def product_modules() -> list[Path]:
    return sorted(p for pkg in LAYERS for p in (ROOT / pkg).rglob("*.py"))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, including those inside functions."""
    out = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def test_every_product_package_is_checked() -> None:
    found = {p.relative_to(ROOT).parts[0] for p in product_modules()}
    assert found == set(LAYERS)


@pytest.mark.parametrize("path", product_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_stages(path: Path) -> None:
    own = LAYERS[path.relative_to(ROOT).parts[0]]
    wrong = [f"line {n}: {mod}" for n, mod in imported_modules(path)
             if mod.split(".")[0] in LAYERS and LAYERS[mod.split(".")[0]] > own]
    assert not wrong, f"{path.relative_to(ROOT)} imports a later stage: {wrong}"


@pytest.mark.parametrize("path", [p for p in product_modules()
                                  if str(p.relative_to(ROOT)).startswith(ANSWER_PATH)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_answer_path_never_imports_the_write_side(path: Path) -> None:
    """The one allowed edge: `Assistant.from_settings`, the Python API's factory, calls the composition root."""
    allowed = set(factory_lines(path, "from_settings"))
    wrong = [f"line {n}: {mod}" for n, mod in imported_modules(path)
             if mod == "index.pipeline" or (mod == "rag.compose" and n not in allowed)]
    assert not wrong, f"{path.relative_to(ROOT)} reaches the indexer or the composition root: {wrong}"


def factory_lines(path: Path, name: str) -> range:
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return range(node.lineno, (node.end_lineno or node.lineno) + 1)
    return range(0)


def long_functions(path: Path) -> list[str]:
    lines = path.read_text("utf-8").splitlines()
    out = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES and LAYOUT_MARK not in lines[node.lineno - 1]:
                out.append(f"{node.name} ({length} lines, line {node.lineno})")
    return out


def test_no_long_functions_in_the_product() -> None:
    paths = sorted(p for pkg in LENGTH_CHECKED for p in (ROOT / pkg).rglob("*.py"))
    found = {str(p.relative_to(ROOT)): long_functions(p) for p in paths}
    assert not {k: v for k, v in found.items() if v}


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The walkers see what they must: an import inside a function, and a long function."""
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    sample = tmp_path / "sample.py"
    sample.write_text(f"def f():\n    from ui.app import build_app\n{body}\n", "utf-8")
    assert (2, "ui.app") in imported_modules(sample)
    assert long_functions(sample) == [f"f ({MAX_FUNCTION_LINES + 2} lines, line 1)"]
