"""Suite loading and validation: the bundled suites are well-formed, and bad suites get clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from core.types import Turn
from rag.eval.matching import contains_any
from rag.eval.suite import SuiteError, load_suite, load_suites, parse_yaml

SUITES = PROJECT_ROOT / "suites"
ARTICLE = PROJECT_ROOT / "data" / "corpus" / "elephant-in-the-room.txt"


def _article_body_and_tail() -> tuple[str, str]:
    text = ARTICLE.read_text("utf-8")
    body, _, tail = text.partition("\nComments\n")
    assert tail, "the bundled file should still end with its blog boilerplate"
    return body, tail


def test_article_suite_meets_the_issue_requirements():
    suite = load_suite(SUITES / "article.yaml")
    cases = suite.cases
    assert suite.name == "article"
    assert len(cases) >= 50
    tags = [t for c in cases for t in c.tags]
    assert sum(1 for c in cases if c.history) >= 6
    assert sum(not c.answerable for c in cases) >= 10
    for kind in ("fact", "paraphrase", "multi-paragraph", "who-said", "follow-up", "unanswerable",
                 "not-in-article", "boilerplate", "off-topic", "injection"):
        assert kind in tags, kind
    assert all(c.tags for c in cases), "every case is tagged by kind"
    assert sum("boilerplate" in c.tags for c in cases) >= 3


def test_article_suite_evidence_is_verbatim_article_text_not_boilerplate():
    body, tail = _article_body_and_tail()
    for c in load_suite(SUITES / "article.yaml").cases:
        for phrase in c.evidence:
            assert contains_any(body, [phrase]), f"{c.id}: evidence {phrase!r} is not in the article"
            assert not contains_any(tail, [phrase]), f"{c.id}: evidence {phrase!r} is in the boilerplate"
        if c.answerable:
            assert c.evidence, f"{c.id}: answerable cases need evidence"
            assert contains_any(body, c.answers), f"{c.id}: no accepted answer occurs in the article"


@pytest.mark.parametrize(
    ("suite_file", "doc_file"),
    [("article-hard.yaml", "elephant-in-the-room.txt"), ("kessick-bridge.yaml", "kessick-narrows-bridge.txt")],
)
def test_hard_suites_are_verbatim_and_honestly_split(suite_file, doc_file):
    """Issue 18 suites: evidence is document text, every case is `dev` xor `test`, split about half/half."""
    body = (PROJECT_ROOT / "data" / "corpus" / doc_file).read_text("utf-8").partition("\nComments\n")[0]
    cases = load_suite(SUITES / suite_file).cases
    assert len(cases) >= 30
    for c in cases:
        assert ("dev" in c.tags) != ("test" in c.tags), f"{c.id}: tag it dev or test, not both or neither"
        assert all(contains_any(body, [e]) for e in c.evidence), f"{c.id}: evidence not in {doc_file}"
        if c.answerable:
            assert c.evidence and contains_any(body, c.answers), c.id
    n_dev = sum("dev" in c.tags for c in cases)
    assert abs(2 * n_dev - len(cases)) <= 2, "dev and test are half/half"
    for part in ("dev", "test"):
        assert any(not c.answerable and part in c.tags for c in cases), f"{part} needs unanswerable cases"


def test_informal_suite_is_split_by_document_and_never_trained_on():
    """Issue 18 item 1: >= 40 answerable and some unanswerable questions over forum posts and reviews,
    each answerable case's evidence in exactly one document, all of a document's cases in one split."""
    docs = {p.name: p.read_text("utf-8") for p in sorted((PROJECT_ROOT / "data" / "informal").iterdir())}
    cases = load_suite(SUITES / "informal.yaml").cases
    assert sum(c.answerable for c in cases) >= 40 and sum(not c.answerable for c in cases) >= 10
    split_of: dict[str, str] = {}
    for c in cases:
        assert ("dev" in c.tags) != ("test" in c.tags), f"{c.id}: tag it dev or test, not both or neither"
        part = "dev" if "dev" in c.tags else "test"
        for phrase in c.evidence:
            holders = [name for name, text in docs.items() if contains_any(text, [phrase])]
            assert len(holders) == 1, f"{c.id}: evidence {phrase!r} is in {holders}, expected one document"
            assert contains_any(docs[holders[0]], c.answers), f"{c.id}: no accepted answer in {holders[0]}"
            assert split_of.setdefault(holders[0], part) == part, f"{c.id}: {holders[0]} has dev and test cases"
        if c.answerable:
            assert c.evidence, f"{c.id}: answerable cases need evidence"
    assert sorted(split_of) == sorted(docs), "every informal document has cases"
    assert abs(2 * sum(v == "dev" for v in split_of.values()) - len(docs)) <= 1, "documents split half/half"
    # the reader's hand-written training cases must not come from these documents
    training = (PROJECT_ROOT / "data" / "reader" / "cases.jsonl").read_text("utf-8")
    assert not any(contains_any(training, [e]) for c in cases for e in c.evidence)


def test_boilerplate_cases_ask_about_the_stripped_tail():
    _, tail = _article_body_and_tail()
    probes = [c for c in load_suite(SUITES / "article.yaml").cases if "boilerplate" in c.tags]
    assert all(not c.answerable for c in probes)
    # each headline of "Popular posts from this blog" is probed by name
    for name in ("TB Joshua", "Joshua Primo", "Sky Sports"):
        assert name in tail
        assert any(name in c.question for c in probes), name


def test_smoke_suite_is_small_and_valid():
    suite = load_suite(SUITES / "smoke.yaml")
    assert 5 <= len(suite.cases) <= 10
    assert any(not c.answerable for c in suite.cases)
    assert any(c.history for c in suite.cases)


def test_defaults_and_history_parsing():
    suite = parse_yaml(
        """
name: t
cases:
  - id: a
    question: " Q? "
    answers: one
  - id: 7
    question: Next?
    history:
      - {role: user, content: "Who?"}
      - {role: assistant, content: "Her."}
    answers: ["x", 10000]
    tags: follow-up
  - id: c
    question: Off topic?
    answerable: false
"""
    )
    a, b, c = suite.cases
    assert (a.question, a.answers, a.answerable, a.tags, a.evidence) == ("Q?", ("one",), True, (), ())
    assert b.id == "7" and b.answers == ("x", "10000") and b.tags == ("follow-up",)
    assert b.history == (Turn("user", "Who?"), Turn("assistant", "Her."))
    assert c.answerable is False and c.answers == ()


def test_jsonl_gives_the_same_cases_as_yaml(tmp_path: Path):
    yaml_suite = load_suite(SUITES / "smoke.yaml")
    p = tmp_path / "smoke.jsonl"
    p.write_text("\n".join(json.dumps(c.to_dict()) for c in yaml_suite.cases) + "\n\n", "utf-8")
    jsonl_suite = load_suite(p)
    assert jsonl_suite.name == "smoke"
    assert jsonl_suite.cases == yaml_suite.cases


def _err(tmp_path: Path, text: str, name: str = "s.yaml") -> str:
    p = tmp_path / name
    p.write_text(text, "utf-8")
    with pytest.raises(SuiteError) as e:
        load_suite(p)
    return str(e.value)


def test_missing_question_names_case_and_field(tmp_path):
    msg = _err(tmp_path, "cases:\n  - id: ok\n    question: Q\n    answers: [a]\n  - id: broken\n    answers: [a]\n")
    assert "'broken'" in msg and "question" in msg and "s.yaml" in msg


def test_duplicate_id(tmp_path):
    msg = _err(tmp_path, "cases:\n  - {id: a, question: Q, answers: [x]}\n  - {id: a, question: R, answers: [y]}\n")
    assert "'a'" in msg and "duplicate id" in msg


def test_unknown_field_suggests_the_right_one(tmp_path):
    msg = _err(tmp_path, "cases:\n  - {id: a, question: Q, answerabel: false}\n")
    assert "'a'" in msg and "unknown field 'answerabel'" in msg and "did you mean 'answerable'" in msg


def test_answerable_case_without_answers(tmp_path):
    msg = _err(tmp_path, "cases:\n  - {id: lonely, question: Q, evidence: [x]}\n")
    assert "'lonely'" in msg and "answers" in msg and "answerable: false" in msg


def test_unanswerable_case_with_answers_is_contradictory(tmp_path):
    msg = _err(tmp_path, "cases:\n  - {id: u, question: Q, answers: [x], answerable: false}\n")
    assert "'u'" in msg and "answers" in msg


def test_malformed_yaml_gives_the_line(tmp_path):
    msg = _err(tmp_path, "name: x\ncases:\n  - id: a\n    question: [unclosed\n    answers: [b]\n")
    assert "not valid YAML" in msg and "line" in msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cases:\n  - {question: Q, answers: [a]}\n", "'id' is missing"),
        ("cases:\n  - {id: a, question: Q, answers: [a], answerable: maybe}\n", "true or false"),
        ("cases:\n  - {id: a, question: Q, answers: [a], history: [{role: bot, content: hi}]}\n", "role 'bot'"),
        ("cases:\n  - {id: a, question: Q, answers: [a], history: [{role: user}]}\n", "turn #1"),
        ("cases:\n  - {id: a, question: Q, answers: [{x: 1}]}\n", "'answers'"),
        ("cases: []\n", "non-empty list"),
        ("name: x\ncase: []\n", "unknown top-level field 'case'"),
        ("just text\n", "expected a mapping"),
    ],
)
def test_other_malformed_cases(tmp_path, text, expected):
    assert expected in _err(tmp_path, text)


def test_bad_jsonl_line_and_bad_files(tmp_path):
    msg = _err(tmp_path, '{"id": "a", "question": "Q", "answers": ["x"]}\n{not json}\n', name="s.jsonl")
    assert "line 2" in msg
    assert "unsupported extension" in _err(tmp_path, "x", name="s.txt")
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(tmp_path / "nope.yaml")


def test_two_suites_with_the_same_name_are_refused(tmp_path):
    for n in ("a.yaml", "b.yaml"):
        (tmp_path / n).write_text("name: same\ncases:\n  - {id: a, question: Q, answers: [x]}\n", "utf-8")
    with pytest.raises(SuiteError, match="both named 'same'"):
        load_suites([tmp_path / "a.yaml", tmp_path / "b.yaml"])


# --- hostile suites (issue 11) ---------------------------------------------------------------------------


def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\nname: bomb\ncases: [*a8]\n", "utf-8")
    assert bomb.stat().st_size < 1000
    with pytest.raises(SuiteError, match=r"anchor or alias at line 1.*write each value out"):
        load_suite(bomb)


def test_a_single_alias_is_refused_too() -> None:
    text = "name: x\ncases:\n  - {id: a, question: q, answers: &ans [yes]}\n  - {id: b, question: q, answers: *ans}\n"
    with pytest.raises(SuiteError, match="anchor or alias at line 3"):
        parse_yaml(text)


def test_suite_caps_size_cases_and_fields(tmp_path: Path) -> None:
    from rag.eval.suite import SuiteLimits

    limits = SuiteLimits(max_bytes=2000, max_cases=3, max_field_chars=50, max_items=2)
    big = tmp_path / "big.yaml"
    big.write_text("name: big\ncases:\n" + "  - {id: x, question: q, answers: [a]}\n" * 100, "utf-8")
    with pytest.raises(SuiteError, match=r"over the 2000-byte limit.*max_suite_bytes"):
        load_suite(big, limits)
    many = "cases:\n" + "".join(f"  - {{id: c{i}, question: q, answers: [a]}}\n" for i in range(4))
    with pytest.raises(SuiteError, match="4 cases, over the 3 limit"):
        parse_yaml(many, limits=limits)
    long_q = "cases:\n  - {id: c, question: " + "q" * 51 + ", answers: [a]}\n"
    with pytest.raises(SuiteError, match="field 'question' is 51 characters"):
        parse_yaml(long_q, limits=limits)
    items = "cases:\n  - {id: c, question: q, answers: [a, b, c]}\n"
    with pytest.raises(SuiteError, match="field 'answers' has 3 items"):
        parse_yaml(items, limits=limits)
    with pytest.raises(SuiteError, match="field 'name' is 60"):
        parse_yaml("name: " + "n" * 60 + "\ncases:\n  - {id: c, question: q, answers: [a]}\n", limits=limits)
    jsonl = "\n".join(json.dumps({"id": f"c{i}", "question": "q", "answers": ["a"]}) for i in range(4))
    with pytest.raises(SuiteError, match="4 cases"):
        from rag.eval.suite import parse_jsonl

        parse_jsonl(jsonl, limits=limits)


def test_suite_limits_come_from_settings(settings) -> None:
    from rag.eval.suite import SuiteLimits

    s = settings(max_suite_cases=7, max_suite_bytes=1234, max_suite_field_chars=99)
    assert SuiteLimits.from_settings(s) == SuiteLimits(max_bytes=1234, max_cases=7, max_field_chars=99)


def test_run_folder_is_a_slug_inside_the_runs_folder(tmp_path: Path) -> None:
    from rag.eval.runner import new_run_dir

    root = tmp_path / "eval-runs"
    for name in ("../../../../outside/pwn", "/etc/passwd", "..", "C:\\\\x\\\\..\\\\y", "a/../../b", "\x00", "é" * 300):
        out = new_run_dir(root, name)
        assert out.parent == root.resolve(), (name, out)
        assert all(c.isalnum() or c == "-" for c in out.name), out.name
        assert len(out.name) <= 80
    assert new_run_dir(root, "../../../../outside/pwn").name.endswith("-outside-pwn")
