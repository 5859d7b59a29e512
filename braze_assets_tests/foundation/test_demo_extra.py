"""A production install (no `demo` extra) runs without the demo tools, and the demo commands say
which install they need.

Each case runs in a child Python whose import system refuses the demo-only modules (moto, Flask,
the sandbox, the demo data generator, the demo Currents writer, the local S3) as if they were not
installed; a `sitecustomize` on PYTHONPATH installs the refusal, so it also holds in the children the
CLI starts.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from braze_assets.settings import DEMO_CONFIG_DIR, PROJECT_DIR
from braze_assets_tests.conftest import cli_env

BLOCKED = (
    "moto",
    "flask",
    "braze_assets.sandbox",
    "braze_assets.demo_data",
    "braze_assets.currents.demo",
    "braze_assets.currents.demo_writer",
    "braze_assets.currents.local_s3",
)

SITECUSTOMIZE = textwrap.dedent(
    f"""
    import sys

    BLOCKED = {BLOCKED!r}


    class RefuseDemo:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None


    sys.meta_path.insert(0, RefuseDemo())
    """
)


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return cli_env(data_dir, PYTHONPATH=str(site))


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "braze_assets.cli", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_refusal_is_in_force(production_env):
    out = _python("import moto", production_env)
    assert out.returncode != 0 and "No module named 'moto'" in out.stderr


def test_definitions_and_the_cli_load_without_the_demo_tools(production_env):
    env = {**production_env, "BRAZE_ASSETS_CONFIG_DIR": str(DEMO_CONFIG_DIR)}
    code = textwrap.dedent(
        """
        import sys
        import braze_assets.definitions as d
        import braze_assets.cli.main, braze_assets.cli.commands, braze_assets.cli.services
        import braze_assets.cli.status, braze_assets.cli.errors
        assert d.defs.resolve_asset_graph().get_all_asset_keys()
        print("loaded", sorted(m for m in sys.modules if m.startswith("braze_assets.defs"))[:1])
        """
    )
    out = _python(code, env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "loaded" in out.stdout


def test_status_runs_without_the_demo_tools(production_env):
    out = _cli(production_env, "status")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Braze sync:" in out.stdout


def test_configured_endpoints_need_no_demo_tools(production_env):
    """`braze-assets ui` against a real Braze endpoint and bucket starts no local service."""
    code = textwrap.dedent(
        """
        import os, socket
        from pathlib import Path
        from braze_assets.cli.services import local_services

        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        os.environ["BRAZE_REST_ENDPOINT"] = f"http://127.0.0.1:{listener.getsockname()[1]}"
        os.environ["BRAZE_API_KEY"] = "k"
        os.environ["CURRENTS_S3_BUCKET"] = "bucket"
        with local_services(Path(os.environ["BRAZE_ASSETS_DATA_DIR"])) as services:
            print("local", services.braze_is_local, services.s3_is_local)
        """
    )
    out = _python(code, production_env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "local False False" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("demo", "--people", "50"),
        ("generate", "--people", "50"),
        ("sandbox", "serve", "--port", "0"),
        ("s3", "serve", "--port", "0"),
        ("ui", "--port", "0"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_demo_commands_say_to_install_the_demo_extra(production_env, args):
    out = _cli(production_env, *args)
    assert out.returncode == 2, (out.stdout, out.stderr[-3000:])
    errors = [line for line in out.stderr.splitlines() if line.startswith("braze-assets:")]
    assert len(errors) == 1, out.stderr[-3000:]
    assert "pip install 'braze-assets[demo]'" in errors[0]
    assert "Traceback" not in out.stderr
    assert not (Path(production_env["BRAZE_ASSETS_DATA_DIR"]) / "warehouse.duckdb").exists()
