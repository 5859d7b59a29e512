"""Errors every layer raises. Kept free of other braze_assets imports (no import cycle)."""

from __future__ import annotations


class ConfigError(ValueError):
    """Invalid configuration; the message names the file, the entry and the problem."""

    def __init__(self, problem: str, *, file: str | None = None, entry: str | None = None):
        self.problem, self.file, self.entry = problem, file, entry
        where = " ".join(part for part in (file and f"{file}:", entry and f"[{entry}]") if part)
        super().__init__(f"{where} {problem}" if where else problem)
