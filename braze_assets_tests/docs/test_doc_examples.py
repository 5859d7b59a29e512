"""Every example in README.md and docs/*.md works as written.

YAML blocks parse, and `dagster.yaml` examples validate as a Dagster instance config (and load as an
instance when they need no Postgres); Python blocks run; bash blocks marked `<!-- test: run -->`
run in a temporary data dir; every other bash block names only `braze-assets` and `dagster`
commands that exist and only environment variables the pages document.
"""

from __future__ import annotations

import re
import shutil
import sys
import uuid
from pathlib import Path

import click
import pytest
import yaml

from braze_assets.settings import PROJECT_DIR
from braze_assets_tests.conftest import cli_env, run_command, run_python
from braze_assets_tests.docs import examples

YAML_BLOCKS = examples.all_blocks("yaml")
PYTHON_BLOCKS = examples.all_blocks("python")
BASH_BLOCKS = examples.all_blocks("bash")
RUN_BLOCKS = [b for b in BASH_BLOCKS if b.marker == "run"]
INSTANCE_BLOCKS = [b for b in YAML_BLOCKS if b.marker == "dagster.yaml"]
KNOWN_MARKERS = {"run", "dagster.yaml"}
BRAZE_KEY = f"doc-example-key-{uuid.uuid4().hex}"


def _ids(blocks):
    return [b.where for b in blocks]


@pytest.fixture
def example_env(tmp_path) -> dict[str, str]:
    """A user's shell: the project's venv first on PATH, a fresh data dir and Dagster home."""
    data_dir = tmp_path / "data"
    home = data_dir / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    env = cli_env(data_dir, BRAZE_API_KEY=BRAZE_KEY)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def test_the_pages_have_examples_and_known_markers():
    assert INSTANCE_BLOCKS and RUN_BLOCKS and PYTHON_BLOCKS
    blocks = [b for page in examples.pages() for b in examples.blocks(page)]
    unknown = [
        f"{b.where}: {b.marker}" for b in blocks if b.marker and b.marker not in KNOWN_MARKERS
    ]
    assert not unknown, f"unknown test markers: {unknown}"


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=_ids(YAML_BLOCKS))
def test_yaml_block_parses(block):
    assert yaml.safe_load(block.text) is not None, f"{block.where}: empty YAML block"


def _env_refs(value) -> set[str]:
    if isinstance(value, dict):
        if set(value) == {"env"}:
            return {value["env"]}
        return set().union(*(_env_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_env_refs(v) for v in value)) if value else set()
    return set()


@pytest.mark.parametrize("block", INSTANCE_BLOCKS, ids=_ids(INSTANCE_BLOCKS))
def test_dagster_yaml_example_is_a_valid_instance_config(block, tmp_path):
    import dagster as dg
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text(block.text, encoding="utf-8")
    config, _ = dagster_instance_config(str(tmp_path))
    undocumented = _env_refs(yaml.safe_load(block.text)) - examples.documented_env_vars()
    assert not undocumented, (
        f"{block.where}: undocumented environment variables {sorted(undocumented)}"
    )
    if "postgres" in config.get("storage", {}):
        return  # validated against the schema; loading it would need a Postgres server
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    instance.dispose()


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=_ids(PYTHON_BLOCKS))
def test_python_block_runs(block, example_env, tmp_path):
    result = run_python(block.text, env=example_env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, f"{block.where} failed:\n{result.stdout}\n{result.stderr}"
    assert BRAZE_KEY not in result.stdout + result.stderr, f"{block.where} printed the API key"


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=_ids(RUN_BLOCKS))
def test_runnable_bash_block_runs(block, example_env):
    result = run_command(
        ["bash", "-euo", "pipefail", "-c", block.text], env=example_env, timeout=120
    )
    assert result.returncode == 0, f"{block.where} failed:\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize(
    "block", BASH_BLOCKS + PYTHON_BLOCKS, ids=_ids(BASH_BLOCKS + PYTHON_BLOCKS)
)
def test_block_mentions_only_documented_env_vars(block):
    undocumented = examples.mentioned_env_vars(block.text) - examples.documented_env_vars()
    assert not undocumented, (
        f"{block.where}: undocumented environment variables {sorted(undocumented)}"
    )


BRAZE_ASSETS_COMMANDS = sorted({c for b in BASH_BLOCKS for c in examples.cli_commands(b.text)})


@pytest.mark.parametrize(
    "command", BRAZE_ASSETS_COMMANDS, ids=[" ".join(c) for c in BRAZE_ASSETS_COMMANDS]
)
def test_braze_assets_command_in_the_docs_exists(command, capsys):
    from braze_assets.cli.main import main

    # The console script's own entry point, in process: `--help` exits 0 only for a real command.
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0, (
        f"`braze-assets {' '.join(command)}` does not exist:\n{capsys.readouterr().err}"
    )


def test_dagster_commands_in_the_docs_exist():
    from dagster._cli import cli

    commands = {c for b in BASH_BLOCKS for c in examples.dagster_commands(b.text)}
    assert commands
    for words in commands:
        command, context = cli, click.Context(cli)
        for word in words:
            if not isinstance(command, click.Group):
                break  # the rest are the leaf command's arguments
            command = command.get_command(context, word)
            assert command is not None, f"`dagster {' '.join(words)}`: no command {word!r}"


@pytest.mark.parametrize("page", examples.pages(), ids=lambda p: p.name)
def test_local_links_and_images_exist(page):
    targets = re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8"))
    local = [t for t in targets if not re.match(r"^[a-z]+:", t)]
    missing = [t for t in local if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


def test_documented_postgres_install_pins_the_postgres_extra():
    import tomllib

    extra = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["postgres"]
    installs = [b.text for b in BASH_BLOCKS if "dagster-postgres" in b.text]
    assert installs, "docs/operations.md no longer shows how to install the Postgres storage"
    for text in installs:
        assert sorted(re.findall(r"[\w-]+==[\w.]+", text)) == sorted(extra)
