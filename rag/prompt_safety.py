"""Untrusted text made safe to put in a prompt: used by the LLM generator and the follow-up rewriter."""

from __future__ import annotations

import re

from index.cleaning import strip_format_chars

_DELIMITER = re.compile(r"<{3,}|>{3,}|<\||\|>")
# Chat-template control tokens: llama.cpp tokenizes the formatted prompt with special tokens enabled, so
# "<|im_start|>" (ChatML, Llama 3: caught by _DELIMITER), "<s>", Gemma's turns or Mistral's [INST] in a
# document would become real turn boundaries. Rewritten with look-alike brackets they stay plain text.
_CONTROL = re.compile(r"<(/?(?:s|bos|eos|pad|unk|start_of_turn|end_of_turn))>|\[(/?(?:INST|SYS))\]", re.I)


def _defuse(m: re.Match) -> str:
    return "\u2039" + (m.group(1) or m.group(2)) + "\u203a"


def prompt_safe(text: str) -> str:
    """One line, no delimiter or control-token look-alikes and no invisible format characters: untrusted
    text cannot close the data block, fake new prompt sections, open a chat turn or hide words (tag
    characters, zero-width joiners) that only the model would read. Used for passages, titles, the
    question, and the history the follow-up rewriter sends."""
    text = strip_format_chars(text)[0]
    return " ".join(_DELIMITER.sub("\u2039", _CONTROL.sub(_defuse, text)).split())


