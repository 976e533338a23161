"""The words that mark a sentence as giving a reason: the one vocabulary of causes and purposes.

A sentence that explains says why ("because", "due to", "driven by"), what for ("in order to", "aims to",
"so that"), what someone fears or needs ("concerned that", "fears", "needs"), or what follows ("could
allow", "as a result", "will become more difficult"). Explanations (rag.plan.explanation) weigh a
sentence's relevance by these cues, so a sentence that only names the topic ranks below one that
explains it.
"""

from __future__ import annotations

import re

# a cause or a purpose, stated outright
_CAUSE = (r"because|since(?!\s+(?:\d|jan|feb|march|april|may|june|july|aug|sept?|oct|nov|dec|last|then|the (?:start|day)"
          # "since construction began": a time, not a cause
          r"|(?:\w+\s+){1,2}(?:began|begun|started|opened|ended|took office|was founded)\b))"
          r"|as a result|due to|owing to|thanks to|on account of|in order to|so that|so as to"
          r"|aims? to|aimed to|seeks? to|sought to|in an effort to|driven by|motivated by|prompted by"
          r"|caused by|causes?|caused|led to|leads? to|lead to|results? in|resulted in|reasons?|therefore|thus"
          r"|hence|consequently|given that|for fear|fears?|feared|worr(?:y|ies|ied)|concerned (?:that|about)"
          r"|concerns? (?:that|about)|wary|warily"
          r"|,\s+as\s+(?:\w+\s+){0,3}(?:is|are|was|were|has|have|had)")  # "..., as China is far more important"
# a need, a risk or a consequence: weaker evidence that the sentence explains
_CONSEQUENCE = (r"needs?|needed|rely on|depends? on|risks?|could (?:\w+ )?allow|would (?:\w+ )?allow"
                r"|allows?|enables?|prevents?|to prevent|to avoid|to control|more difficult|harder|easier"
                r"|capacity to|unable to|cannot|can't|if\b.{1,80}\bwill|lifeline|crucial|essential|irreplaceable"
                # a diagnosis, as forum replies give one
                r"|sounds (?:a lot )?like|(?:your|the) problem|culprit|probably|has to|have to|means")
CAUSE_CUE = re.compile(rf"\b(?:{_CAUSE})\b", re.IGNORECASE)
CONSEQUENCE_CUE = re.compile(rf"\b(?:{_CONSEQUENCE})(?!\w)", re.IGNORECASE)


def reason_weight(sentence: str) -> float:
    """1.0 for a sentence that states a cause or purpose, 0.5 for one that states a need, risk or
    consequence, 0.0 for one that gives no reason."""
    if CAUSE_CUE.search(sentence):
        return 1.0
    return 0.5 if CONSEQUENCE_CUE.search(sentence) else 0.0
