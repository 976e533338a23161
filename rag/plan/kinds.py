"""What kind of answer a question asks for: the plan vocabulary and the rule classifier.

Every cue word of the plan kinds lives here (one source per vocabulary). The rules are written from the
labelling rules in data/plans/README.md, not fitted to examples: they fire only on explicit cues, and a
question that no rule places is left to the learned classifier or, failing that, to the fact path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.language.names import asks_for_speaker
from core.language.terms import STOPWORDS, fold, term_set

KINDS = ("fact", "overview", "list", "comparison", "explanation", "library")

# chat spellings a user types; expanded before matching
_SHORTHAND = {"r": "are", "u": "you", "ur": "your", "docs": "documents", "doc": "document", "pls": "please",
              "whats": "what is", "what's": "what is", "wat": "what", "wot": "what", "hw": "how", "teh": "the",
              "tldr": "tl;dr", "vs.": "vs", "wich": "which", "whch": "which", "wher": "where", "thru": "through"}
# words a typo is corrected towards (only these, so an unknown name is never "corrected")
_CUE_WORDS = ("summarize", "summarise", "summary", "article", "document", "documents", "overview", "quoted",
              "mentioned", "difference", "different", "compare", "comparison", "between", "uploaded", "upload",
              "library", "collection", "headline", "title", "titles", "which", "explain", "reason", "reasons", "because",
              "takeaways", "highlights", "findings", "contrast", "versus", "enumerate", "files", "people")

# what people call a document; these words name no subject, so they never scope an answer to one document
DOC_NOUNS = ("article", "document", "documents", "report", "paper", "pdf", "file", "files", "thread", "email",
             "memo", "story", "text", "study", "whitepaper", "policy", "contract", "agreement", "manual", "review",
             "reviews", "post", "notes", "minutes", "transcript", "piece", "source", "sources", "library",
             "collection", "docs", "doc", "pages", "page", "news")
# words that ask for a shape of answer, not about a subject
REQUEST_WORDS = ("summarize", "summarise", "summary", "summaries", "overview", "gist", "tl;dr", "tldr", "key",
                 "main", "points", "point", "takeaways", "highlights", "bullets", "bullet", "sentence", "sentences",
                 "brief", "briefly", "short", "version", "stuff", "info", "pls", "please", "everything",
                 "describe", "explain", "tell", "give", "sum", "nutshell", "interesting", "something", "anything",
                 "happened", "know", "each", "both", "all", "two", "three", "four", "five", "few", "one",
                 "line", "lines", "quick", "rundown", "recap", "findings", "ideas", "idea")
# what the library records about a document: asked about, these words name no subject either
RECORD_WORDS = ("title", "titles", "headline", "headlines", "name", "names", "called", "size", "long", "longer",
                "longest", "shorter", "length", "format", "added", "uploaded", "indexed", "date", "big", "many",
                "words", "characters", "list", "show", "which", "ask", "have", "there", "available", "loaded")
_DOC = "(" + "|".join(DOC_NOUNS) + "|these|this|it)"

_DOCS = "documents|files|pdfs|papers|articles|sources|threads"  # the library's units, as people count them
_TITLES = "title|titles|headline|headlines"
_LIBRARY = [
    r"\b(which|what) (?:" + _DOCS + r") (are|do|did|can|were|have)\b",
    r"\bhow many (\w+ )?(?:pages|" + _DOCS + r")\b",
    r"\b(was|were) (the|this|my|that) (\w+ ){0,3}(added|uploaded|indexed|imported)\b",
    r"\b(?:" + _TITLES + r"|file ?name|filename|file size|page count|format)\b(\S+ ){0,6}" + _DOC,
    r"\b(title|headline|file ?name)s? of\b", r"\bwhen was (\S+ ){0,6}(added|uploaded|indexed|imported)\b",
    r"\b(added|uploaded|indexed) (this|last|yesterday|today)\b",
    r"\bdo you have any\b", r"\bcan i ask (you )?about\b", r"\b(what|which) (files|documents) did i\b",
    r"\b(in|to) the ['\"]?\w+['\"]? collection\b", r"\bhow (long|big|large) is (the|this|that) " + _DOC + r"\b",
    r"\bwhich files are (loaded|there|available)\b", r"\bwhat (documents|files) (are|is) there\b",
    r"\bname of the (document|file|paper)\b",
]
# where a question says the library is, not what it asks of it: a library question only when no summary is asked
# ("an overview of everything in my library" is a summary)
_LIBRARY_PLACE = [r"\b(in|of) (my|the|your) library\b"]
_COMPARISON = [
    r"\bcompar(e|ed|es|ing|ison)\b", r"\b(vs|versus)\b", r"\bdiffer(s|ed|ence|ences)?\b",
    r"\bcontrast\b", r"\bsimilarit(y|ies)\b", r"\bin what ways? (are|is|were)\b", r"\bwhich (\w+ )?(is|was) (\w+er|better|worse|more \w+|less \w+) (\S+ ){0,12}or\b",
    r"\bdifferent (from|than|to)\b",
    r"\b(better|worse|cheaper|faster|stronger|larger|bigger|smaller) than\b",
]
_OVERVIEW = [
    r"\bsummar(y|ize|ise|ized|ised|izing|ising)\b", r"\bsum (it )?up\b", r"\btl;?dr\b", r"\boverview\b",
    r"\bgist\b", r"\bin a nutshell\b", r"\b(key|main) (points|ideas?|findings|takeaways|messages?|themes?)\b",
    r"\btakeaways\b", r"\bhighlights\b", r"\bshort version\b", r"\bwhat is (this|that|it|the \w+( \w+)?) about\b",
    r"\bwhat (is|are) (these|the) (files|documents) about\b", r"\bwhat is in (this|the|these) " + _DOC,
    r"\b(explain|describe) (the|this|each|these|both) " + _DOC + r"\b", r"\btell me (stuff|something|anything)\b",
    r"\banything interesting\b", r"\bwhat can you tell me about (these|this|the) " + _DOC,
    r"\btell me about (the|this) " + _DOC + r"\b", r"\bwhat does (the|this) " + _DOC + r" say\b",
]
_LIST = [
    r"^(list|enumerate|name)\b", r"\b(list|enumerate) (all|every|the)\b", r"\b(all|every) (the )?\w+ mentioned\b",
    r"\bwho (is|are|was|were|gets|got) (quoted|mentioned|named|cited|interviewed)\b",
    r"\b(which|what) \w+ (\w+ )?(are|were|is|was) (quoted|mentioned|named|cited|listed|given|used)\b",
    r"\bwho attended\b", r"\bhow did (the )?(different|various|other|all the) \w+ (react|respond)\b",
    r"\bevery (percentage|number|date|name|figure|person|country|place)\b", r"\bpull out (all|every)\b",
    r"\b(which|what) (\w+ )?\w+s does (the|this) (\w+ ){0,4}(mention|give|list|name|cite|need|use|include)\b",
    r"\bwho are the (\w+ )?(quoted|mentioned|named|cited|interviewed)\b",
    r"\b(people|experts|persons|officials|analysts|sources|names|authors) (quoted|mentioned|named|cited)\b",
    r"\bwhat (are|were) all\b", r"\bwhich \w+s (mention|appear|are mentioned)\b",
]
_EXPLANATION = [
    r"^why\b", r"\bwhy (is|are|was|were|did|does|do|would|tho)\b", r"\bhow come\b", r"\bwhat (caused|causes)\b",
    r"\b(the )?(reason|reasons|causes|cause) (for|of|behind|why)\b", r"\bwhat led to\b", r"\bwhat is behind\b",
    r"\bhow (does|do|did|is|are) (\S+ ){0,8}(work|works|built|made|happen|repay)\b", r"\bhow (do|can) i\b",
    r"\bfor what reason\b", r"\breasoning behind\b", r"\bexplain why\b", r"\bwhat is the reason\b",
]
# explicit cues of one fact (data/plans/README.md): "When did ..." asks one date; "Who said X?" one speaker
# (core.language.names.asks_for_speaker)
_FACT = [r"^(when|where) (did|does|do|is|was|will|were)\b",
         r"^how (many|much|long|tall|old|far|fast|big)\b"]
_RULES: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = tuple(
    (kind, tuple(re.compile(p) for p in pats))
    for kind, pats in (("library", _LIBRARY), ("comparison", _COMPARISON), ("overview", _OVERVIEW),
                       ("library", _LIBRARY_PLACE), ("list", _LIST), ("explanation", _EXPLANATION), ("fact", _FACT))
)
_WORD = re.compile(r"[a-z0-9;.'-]+")
# words that name no subject: what people call a document, the shape of answer asked, the records kept
GENERIC_TERMS = frozenset(fold(w) for w in (*DOC_NOUNS, *REQUEST_WORDS, *RECORD_WORDS)) | STOPWORDS
# the words that ask for a contrast, not what is contrasted ("how do the two documents differ?")
CONTRAST_TERMS = frozenset(fold(w) for w in ("compare", "comparison", "differ", "difference", "differences",
                                              "different", "contrast", "versus", "vs", "similar", "similarity"))
_ASKS_ONE_THING = re.compile(r"^(who|whom|whose|when|where|which|how (many|much|long|old|far))\b")
# what a library question asks the records for, checked in this order (rag.plan.library)
LIBRARY_ASKS = tuple((name, re.compile(p)) for name, p in (
    ("longer", r"\b(longer|longest|shorter|shortest|bigger|biggest|smaller|smallest)\b"),
    ("size", r"\b(how long|how big|size|length|pages|how many words)\b"),
    ("count", r"\bhow many (?:\w+ )?(?:" + _DOCS + r")\b"),
    ("title", r"\b(?:" + _TITLES + r"|called|name of)\b"),
    ("added", r"\b(when|date|added|uploaded|indexed)\b"),
    ("collection", r"\bcollections?\b"),
    ("format", r"\b(format|pdfs?|docx|kind of file|file type)\b"),
    ("unknown", r"\b(author|wrote|written|publisher|published|owner|language|licen[cs]e)\b"),
))


@dataclass(frozen=True)
class PlanGuess:
    kind: str  # one of KINDS
    confidence: float  # 0..1
    source: str  # "rule", "learned" or "default"


def normalize_question(question: str) -> str:
    """Lower case, chat shorthand expanded and typos of cue words corrected, so "summarise teh artcle" and
    "wich experts r qouted" meet the same rules as their spelled-out forms."""
    words = []
    for w in _WORD.findall(question.lower()[:600]):
        w = _SHORTHAND.get(w, w)
        if len(w) >= 5 and w not in _CUE_WORDS:
            w = next((c for c in _CUE_WORDS if one_edit(w, c)), w)
        words.append(w)
    return " ".join(words)


def one_edit(a: str, b: str) -> bool:
    """a and b differ by one insertion, deletion, substitution or swap of neighbours ("qouted"/"quoted")."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    i = next((k for k in range(len(short)) if short[k] != long[k]), len(short))
    return short[i:] == long[i + 1:]


def rule_kind(question: str) -> str:
    """The first plan kind whose cue the question holds, in precedence order; "" when none fires.
    A question that names no subject at all ("what do you know?", "how do the two documents differ?")
    asks about the documents as a whole: the overview answers it."""
    text = normalize_question(question)
    subject = term_set(text) - GENERIC_TERMS
    for kind, patterns in _RULES:
        if any(p.search(text) for p in patterns):
            return "overview" if kind == "comparison" and not subject - CONTRAST_TERMS else kind
    if asks_for_speaker(question):
        return "fact"
    return "overview" if text and not subject and not _ASKS_ONE_THING.search(text) else ""
