"""The fenced examples of the project's Markdown pages, and what their shell lines refer to.

A block preceded by an HTML comment `<!-- test: NAME -->` carries that marker:
`run` (a bash block that is executed) or `dagster.yaml` (a YAML block that is an instance config).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from braze_assets.settings import PROJECT_DIR

FENCE = re.compile(r"^```([\w.-]*)\s*$")
MARKER = re.compile(r"^<!--\s*test:\s*([\w.-]+)\s*-->$")
# An all-caps word with an underscore is an environment variable in these pages.
ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
TABLE_NAME = re.compile(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`")
CLI_ENTRIES = ("braze-assets", ".venv/bin/braze-assets", "./run")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(PROJECT_DIR)}:{self.line}"


def pages() -> list[Path]:
    return [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    found, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous)
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{path}:{i + 1}: fenced block is never closed")
        found.append(
            Block(
                path,
                i + 1,
                opening.group(1),
                "\n".join(lines[i + 1 : end]) + "\n",
                marker.group(1) if marker else None,
            )
        )
        i = end + 1
    return found


def all_blocks(lang: str) -> list[Block]:
    return [b for page in pages() for b in blocks(page) if b.lang == lang]


def documented_env_vars() -> set[str]:
    """Variables named in the first column of a table in any of the pages (the env var tables)."""
    names = set()
    for page in pages():
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("|"):
                names.update(TABLE_NAME.findall(line.split("|")[1]))
    return names


def mentioned_env_vars(text: str) -> set[str]:
    return set(ENV_NAME.findall(text))


def run_script_commands() -> set[str]:
    """The commands `./run` handles itself; every other word goes to `braze-assets`."""
    script = (PROJECT_DIR / "run").read_text(encoding="utf-8")
    return set(re.findall(r"^\s+(\w+)\)", script, flags=re.MULTILINE))


def cli_commands(text: str) -> set[tuple[str, ...]]:
    """The `braze-assets` subcommands a shell block invokes, e.g. ("sandbox", "serve")."""
    found = set()
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        try:
            words = shlex.split(code)
        except ValueError:
            words = code.split()
        for i, word in enumerate(words):
            if word not in CLI_ENTRIES:
                continue
            args = []
            for arg in words[i + 1 : i + 3]:
                if arg.startswith("-") or not re.fullmatch(r"[a-z][a-z0-9_-]*", arg):
                    break
                args.append(arg)
            if word == "./run" and args and args[0] in run_script_commands():
                continue
            if args:
                found.add(tuple(args))
    return found


def dagster_commands(text: str) -> set[tuple[str, ...]]:
    """`dagster <group> <command>` invocations, e.g. ("schedule", "start")."""
    found = set()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        for i, word in enumerate(words):
            if word in ("dagster", ".venv/bin/dagster"):
                args = [w for w in words[i + 1 : i + 4] if re.fullmatch(r"[a-z][a-z-]*", w)]
                found.add(tuple(args))
    return found
