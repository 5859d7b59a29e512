"""Errors raised while checking or evaluating audiences; each names the audience or campaign."""

from __future__ import annotations


class AudienceError(ValueError):
    def __init__(self, name: str, problem: str, *, kind: str = "audience"):
        self.name, self.problem = name, problem
        super().__init__(f"{kind} {name!r}: {problem}")
