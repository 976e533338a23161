"""Prompt templates, stored as YAML files beside this module and loaded as package data.

Each file has `variables` (the required names) and `template` (str.format-style). Rendering is strict:
a missing or unexpected variable is an error, so a renamed variable can never silently vanish.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from core.errors import PromptError


@dataclass(frozen=True)
class Prompt:
    name: str
    variables: frozenset[str]
    template: str

    def render(self, **values: str) -> str:
        given = set(values)
        if given != self.variables:
            missing, extra = self.variables - given, given - self.variables
            raise PromptError(f"prompt {self.name!r}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return self.template.format(**values)


@cache
def load_prompt(name: str) -> Prompt:
    try:
        raw = resources.files(__name__).joinpath(f"{name}.yaml").read_text("utf-8")
    except FileNotFoundError as e:
        raise PromptError(f"no prompt file prompts/{name}.yaml") from e
    data = yaml.safe_load(raw)
    template = data["template"]
    variables = frozenset(data.get("variables") or [])
    used = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    if used != variables:
        raise PromptError(f"prompts/{name}.yaml declares {sorted(variables)} but uses {sorted(used)}")
    return Prompt(name=name, variables=variables, template=template)
