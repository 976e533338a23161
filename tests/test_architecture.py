"""The layout is the design (docs/architecture.md). Read from the source with `ast`, nothing imported:

- packages: imports point down (ui -> rag -> index -> prompts -> core), the answer path never reaches the
  write side, no product module imports training/, and training/ is not installed;
- inside rag/: floors (reader < stages < pipeline < compose < eval, feedback < edges), no sideways import
  between two stages;
- no import cycle anywhere, function-level imports included;
- each vocabulary written once: no regex literal and no word list repeated across product modules;
- short functions and files.
`test_the_checks_can_fail` plants one violation of each rule in a temporary tree and sees it caught.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from fnmatch import fnmatch
from itertools import combinations
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lower layers never import higher ones: ui/service -> rag -> index -> (prompts) -> core.
LAYERS = {"core": 0, "prompts": 1, "index": 2, "rag": 3, "ui": 4}
NOT_PRODUCT = ("training", "bench")  # development code: checked for cycles, never installed or imported by the product
LENGTH_CHECKED = (*LAYERS, *NOT_PRODUCT)  # training/ and bench/ too
MAX_FUNCTION_LINES = 50  # product code (issue 25)
MAX_TOOL_FUNCTION_LINES = 60  # training/ and bench/: tools, not the product
MAX_FILE_LINES = 400
LAYOUT_MARK = "declarative layout"  # a def line carrying this comment is exempt from the length rule

# Floors inside rag/ (core.language lies below all of them, in core/). A module may import its own floor or
# lower ones; the longest matching prefix places a module. The edges (CLI) sit on top, ui/ above rag/.
RAG_FLOORS = {
    "rag.reader": 1, "rag.collections": 1, "rag.prompt_safety": 1,
    "rag.rewrite": 2, "rag.plan": 2, "rag.retrieve": 2, "rag.gate": 2, "rag.generate": 2, "rag.verify": 2,
    "rag": 4, "rag.pipeline": 3, "rag.runnable": 3,  # rag/__init__ exports the Assistant (compose); runnable adapts it
    "rag.compose": 4,
    "rag.eval": 5, "rag.feedback": 5,
    "rag.cli": 6, "rag.__main__": 6,
}
STAGES = ("rag.rewrite", "rag.plan", "rag.retrieve", "rag.gate", "rag.generate", "rag.verify")  # in the order a question flows
ANSWER_PATH = ("rag/pipeline.py", "rag/reader/", *(f"{s.replace('.', '/')}/" for s in STAGES))
MIN_REGEX_CHARS = 8  # shorter patterns (\s+, \d+, \w) are notation, not a vocabulary
MIN_SHARED_WORDS, MIN_OVERLAP = 4, 0.5  # two word lists are one vocabulary when they share this much (Jaccard)

# ---------------------------------------------------------------- reading the tree
def modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the given top-level packages."""
    out = {}
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            parts = list(f.relative_to(root).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def imported_modules(path: Path, name: str = "") -> list[tuple[int, str]]:
    """(line, module) of every import in the file, inside functions too; `from a import b` also yields a.b
    (it may be a module), and relative imports are resolved against `name`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".")[: len(name.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(package + ([node.module] if node.module else []))
            if base:
                out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}" if base else a.name) for a in node.names]
    return out


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    mods = modules(root, packages)
    return {m: {t for _, t in imported_modules(f, m) if t in mods and t != m} for m, f in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, edges = work[-1]
            w = next(edges, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def package_cycles(root: Path) -> list[list[str]]:
    """Cycles with a module outside rag/ (product, training and bench together)."""
    return [c for c in cycles(import_graph(root, (*LAYERS, *NOT_PRODUCT))) if any(m.split(".")[0] != "rag" for m in c)]


def rag_cycles(root: Path) -> list[list[str]]:
    return [c for c in cycles(import_graph(root, (*LAYERS, *NOT_PRODUCT))) if all(m.split(".")[0] == "rag" for m in c)]


# ---------------------------------------------------------------- the rules
def upward_imports(root: Path) -> list[str]:
    out = []
    for m, f in modules(root, LAYERS).items():
        own = LAYERS[m.split(".")[0]]
        out += [f"{m} line {n}: {t}" for n, t in imported_modules(f, m)
                if t.split(".")[0] in LAYERS and LAYERS[t.split(".")[0]] > own]
    return out


def training_imports(root: Path) -> list[str]:
    return [f"{m} line {n}: {t}" for m, f in modules(root, LAYERS).items() for n, t in imported_modules(f, m)
            if t.split(".")[0] in NOT_PRODUCT]


def installed_dev_packages(root: Path) -> list[str]:
    """Development folders that pyproject.toml would install (setuptools find include patterns or a list)."""
    tool = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    listed = tool.get("packages")
    if isinstance(listed, list):
        return [p for p in listed if p.split(".")[0] in NOT_PRODUCT]
    include = tool.get("packages", {}).get("find", {}).get("include", ["*"])
    return [d for d in NOT_PRODUCT if any(fnmatch(d, pat) for pat in include)]


def rag_floor(module: str) -> int | None:
    """The floor of the longest matching prefix ("rag" itself places only rag/__init__)."""
    best = max((p for p in RAG_FLOORS if module == p or (p != "rag" and module.startswith(p + "."))),
               key=len, default=None)
    return RAG_FLOORS[best] if best is not None else None


def stage_of(module: str) -> str | None:
    return next((s for s in STAGES if module == s or module.startswith(s + ".")), None)


def unplaced_rag_modules(root: Path) -> list[str]:
    return [m for m in modules(root, ["rag"]) if rag_floor(m) is None]


def rag_floor_violations(root: Path) -> list[str]:
    """A rag module importing a higher floor, or one stage importing another (sideways)."""
    mods = modules(root, ["rag"])
    out = []
    for m, f in mods.items():
        own = rag_floor(m)
        for n, t in imported_modules(f, m):
            if t not in mods or own is None or rag_floor(t) is None:
                continue
            if rag_floor(t) > own:
                out.append(f"{m} line {n}: imports {t}, a higher floor")
            elif stage_of(m) and stage_of(t) and stage_of(m) != stage_of(t):
                out.append(f"{m} line {n}: stage {stage_of(m)} imports stage {stage_of(t)} sideways")
    return out


# ---------------------------------------------------------------- vocabularies
_RE_CALLS = {"compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}
_ALTERNATION = re.compile(r"[a-z']+(?:\|[a-z']+){3,}")  # "monday|tuesday|..." inside a pattern
_WORD = re.compile(r"[a-z][a-z'-]*")


def regex_literals(path: Path) -> list[tuple[int, str]]:
    """Constant patterns given to re.compile / re.search / ... (long enough to be a vocabulary)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _RE_CALLS
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                and len(node.args[0].value) >= MIN_REGEX_CHARS):
            out.append((node.lineno, node.args[0].value))
    return out


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def _spaced_words(call: ast.Call) -> ast.AST | None:
    """The string of "a b c".split() or of wordset("a b c") (a call whose name says word or set)."""
    if isinstance(call.func, ast.Attribute) and call.func.attr == "split" and not call.args:
        return call.func.value
    name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
    return call.args[0] if len(call.args) == 1 and re.search(r"(?i)word|set", name) else None


def word_lists(path: Path) -> list[tuple[int, frozenset[str]]]:
    """Word lists however written: a set/list/tuple of words, "a b c".split() or a call on such a string
    (wordset("...")), and an alternation "a|b|c|d" inside any string or f-string."""
    out = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        words: list[str] = []
        if isinstance(node, ast.Set | ast.List | ast.Tuple) and all(_strings(e) for e in node.elts):
            words = [s.lower() for e in node.elts for s in _strings(e)]
        elif isinstance(node, ast.Call):
            words = [w for s in _strings(_spaced_words(node)) for w in s.lower().split()]
        if len(words) >= MIN_SHARED_WORDS and all(_WORD.fullmatch(w) for w in words):
            out.append((node.lineno, frozenset(words)))
        for s in _strings(node):
            out += [(node.lineno, frozenset(m.split("|"))) for m in _ALTERNATION.findall(s.lower())]
    return out


def duplicate_regexes(root: Path) -> list[str]:
    seen: dict[str, list[str]] = {}
    for m, f in modules(root, LAYERS).items():
        for n, pattern in regex_literals(f):
            seen.setdefault(pattern, []).append(f"{m}:{n}")
    return [f"{p!r} in {places}" for p, places in seen.items() if len({x.split(":")[0] for x in places}) > 1]


def duplicate_word_lists(root: Path) -> list[str]:
    """Lists of content words written twice. Lists of function words only (is|are|was|were, pronouns inside a
    regex) are grammar a pattern spells out, not a vocabulary: only content words are compared."""
    from core.language.terms import STOPWORDS

    found = [(m, n, words - STOPWORDS) for m, f in modules(root, LAYERS).items() for n, words in word_lists(f)]
    out = []
    for (ma, na, a), (mb, nb, b) in combinations(found, 2):
        shared = a & b
        if ma != mb and len(shared) >= MIN_SHARED_WORDS and len(shared) / len(a | b) >= MIN_OVERLAP:
            out.append(f"{ma}:{na} and {mb}:{nb} share {sorted(shared)}")
    return out


# ---------------------------------------------------------------- sizes
def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    lines = path.read_text("utf-8").splitlines()
    out = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit and LAYOUT_MARK not in lines[node.lineno - 1]:
                out.append(f"{node.name} ({length} lines, line {node.lineno})")
    return out


def long_files(root: Path) -> list[str]:
    return [f"{f.relative_to(root)} ({n} lines)" for f in modules(root, LAYERS).values()
            if (n := len(f.read_text("utf-8").splitlines())) > MAX_FILE_LINES]


# ---------------------------------------------------------------- tests on the real tree
def test_every_product_package_is_checked() -> None:
    assert {m.split(".")[0] for m in modules(ROOT, LAYERS)} == set(LAYERS)


def test_imports_point_down_the_packages() -> None:
    assert not upward_imports(ROOT), "a lower package imports a higher one"


@pytest.mark.parametrize("path", [f for f in modules(ROOT, LAYERS).values()
                                  if str(f.relative_to(ROOT)).startswith(ANSWER_PATH)],
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


def test_no_product_module_imports_training() -> None:
    assert not training_imports(ROOT)


def test_training_is_not_installed() -> None:
    assert not installed_dev_packages(ROOT)


def test_no_import_cycle_across_packages() -> None:
    """Product, training and bench: a cycle through an import inside a function counts too."""
    assert not package_cycles(ROOT)


def test_no_import_cycle_inside_rag() -> None:
    assert not rag_cycles(ROOT)


def test_every_rag_module_has_a_floor() -> None:
    assert not unplaced_rag_modules(ROOT), "add the module's prefix to RAG_FLOORS"


def test_rag_imports_point_down_its_floors_and_never_sideways() -> None:
    assert not rag_floor_violations(ROOT)


def test_each_regex_is_written_once() -> None:
    assert not duplicate_regexes(ROOT), "define the pattern once (core.language) and import it"


def test_each_word_list_is_written_once() -> None:
    assert not duplicate_word_lists(ROOT), "define the words once (core.language.words) and import them"


def test_no_long_functions_in_the_product() -> None:
    found = {str(f.relative_to(ROOT)): long_functions(f, MAX_FUNCTION_LINES if m.split(".")[0] in LAYERS
                                                       else MAX_TOOL_FUNCTION_LINES)
             for m, f in modules(ROOT, LENGTH_CHECKED).items()}
    assert not {k: v for k, v in found.items() if v}


def test_no_long_files_in_the_product() -> None:
    assert not long_files(ROOT)


# ---------------------------------------------------------------- each rule can fail
def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    for pkg in {*LAYERS, *NOT_PRODUCT}:
        (root / pkg).mkdir(exist_ok=True)
    return root


_CLEAN = {
    "pyproject.toml": '[tool.setuptools.packages.find]\ninclude = ["core", "core.*", "rag", "rag.*"]\n',
    "core/__init__.py": "", "core/language/words.py": 'WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday")\n',
    "index/store.py": "from core.language.words import WEEKDAYS\n",
    "rag/__init__.py": "", "rag/reader/scorer.py": "from core.language import words\n",
    "rag/gate/gate.py": "from rag.reader.scorer import words\n",
    "rag/generate/extractive.py": "import re\nDATE = re.compile(r'\\b\\d{4}-\\d{2}\\b')\n",
    "rag/pipeline.py": "from rag.gate.gate import words\nfrom rag.generate import extractive\n",
    "rag/compose.py": "def build():\n    from rag.pipeline import words\n",
    "training/train.py": "from rag.compose import build\n",
}


def test_the_checks_pass_a_clean_tree(tmp_path: Path) -> None:
    root = _tree(tmp_path, _CLEAN)
    assert not (upward_imports(root) or training_imports(root) or installed_dev_packages(root)
                or package_cycles(root) or rag_cycles(root) or unplaced_rag_modules(root)
                or rag_floor_violations(root) or duplicate_regexes(root) or duplicate_word_lists(root))


@pytest.mark.parametrize("rule, planted", [
    (upward_imports, {"index/store.py": "def f():\n    from rag.pipeline import Assistant\n"}),
    (training_imports, {"rag/pipeline.py": "def f():\n    import training.train\n"}),
    (installed_dev_packages, {"pyproject.toml": '[tool.setuptools.packages.find]\ninclude = ["*"]\n'}),
    (installed_dev_packages, {"pyproject.toml": '[tool.setuptools]\npackages = ["rag", "training"]\n'}),
    (package_cycles, {"training/metrics.py": "def f():\n    from training.train import build\n",
                      "training/train.py": "from training.metrics import f\n"}),
    (rag_cycles, {"rag/pipeline.py": "def f():\n    from rag.compose import build\n"}),
    (rag_cycles, {"rag/gate/gate.py": "from . import other\n", "rag/gate/other.py": "from .gate import x\n"}),
    (unplaced_rag_modules, {"rag/planner.py": ""}),
    (rag_floor_violations, {"rag/reader/scorer.py": "def f():\n    from rag.gate.gate import x\n"}),
    (rag_floor_violations, {"rag/gate/gate.py": "from rag.generate.extractive import DATE\n"}),
    (duplicate_regexes, {"ui/render.py": "import re\nX = re.search(r'\\b\\d{4}-\\d{2}\\b', 'y')\n"}),
    (duplicate_word_lists, {"rag/gate/gate.py": 'DAYS = "monday tuesday wednesday thursday friday".split()\n'}),
    (duplicate_word_lists, {"rag/gate/gate.py": 'DAY = rf"\\b(?:{1}|monday|tuesday|wednesday|thursday)\\b"\n'}),
    (duplicate_word_lists, {"ui/render.py": 'D = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}\n'}),
])
def test_each_rule_can_fail(tmp_path: Path, rule, planted: dict[str, str]) -> None:
    root = _tree(tmp_path, {**_CLEAN, **planted})
    assert rule(root), f"{rule.__name__} missed {planted}"


def test_the_size_checks_can_fail(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    sample = tmp_path / "core" / "sample.py"
    root = _tree(tmp_path, {"core/sample.py": f"def f():\n    from ui.app import build_app\n{body}\n"
                            + "\n" * MAX_FILE_LINES})
    assert (2, "ui.app") in imported_modules(sample)
    assert long_functions(sample) == [f"f ({MAX_FUNCTION_LINES + 2} lines, line 1)"]
    assert long_files(root) == [f"core/sample.py ({MAX_FUNCTION_LINES + 2 + MAX_FILE_LINES} lines)"]


def test_the_cycle_finder_survives_a_deep_chain() -> None:
    """Iterative, so a long import chain cannot hit the recursion limit."""
    n = sys.getrecursionlimit() + 10
    chain = {f"m{i}": {f"m{i + 1}"} for i in range(n)} | {f"m{n}": {"m0"}}
    assert len(cycles(chain)) == 1 and len(cycles(chain)[0]) == n + 1
