"""A production install (no `demo` extra) runs without the demo tools, and the demo commands say
which install they need.

Each case runs in a child Python whose import system refuses the demo-only modules (moto, Flask,
the sandbox, the demo data generator, the demo Currents writer, the local S3) as if they were not
installed; a `sitecustomize` on PYTHONPATH installs the refusal, so it also holds in the children the
CLI starts.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from braze_assets.settings import DEMO_CONFIG_DIR
from braze_assets_tests.conftest import cli_env, run_python

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


def test_production_paths_run_without_the_demo_tools(production_env):
    """The definitions load, `status` runs, and `ui`'s services against a configured Braze
    endpoint and bucket start nothing local, all with the demo modules refused. Without
    BRAZE_ASSETS_CONFIG_DIR the load says that it uses the embedded demo config."""
    env = production_env
    assert "BRAZE_ASSETS_CONFIG_DIR" not in env
    code = textwrap.dedent(
        """
        import contextlib, io, os, socket
        from pathlib import Path

        try:
            import moto
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit("the refusal is not in force")
        import braze_assets.definitions as d
        from braze_assets.cli.main import main
        from braze_assets.cli.services import local_services

        assert d.defs.resolve_asset_graph().get_all_asset_keys()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["status"]) == 0
        assert "Braze sync:" in out.getvalue(), out.getvalue()

        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        os.environ["BRAZE_REST_ENDPOINT"] = f"http://127.0.0.1:{listener.getsockname()[1]}"
        os.environ["BRAZE_API_KEY"] = "k"
        os.environ["CURRENTS_S3_BUCKET"] = "bucket"
        with local_services(Path(os.environ["BRAZE_ASSETS_DATA_DIR"])) as services:
            assert not services.braze_is_local and not services.s3_is_local
        print("production paths ok")
        """
    )
    out = run_python(code, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "production paths ok" in out.stdout
    assert (
        f"BRAZE_ASSETS_CONFIG_DIR is not set: using the embedded demo config ({DEMO_CONFIG_DIR})"
        in out.stderr
    )


DEMO_COMMANDS = [
    ["demo", "--people", "50"],
    ["generate", "--people", "50"],
    ["sandbox", "serve", "--port", "0"],
    ["s3", "serve", "--port", "0"],
    ["ui", "--port", "0"],
]


def test_demo_commands_say_to_install_the_demo_extra(production_env):
    # One child runs every command through the CLI's entry point, so the suite pays for one start.
    code = textwrap.dedent(
        f"""
        import contextlib, io, json
        from braze_assets.cli.main import main

        outcomes = []
        for args in {DEMO_COMMANDS!r}:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(args)
            outcomes.append([args, code, err.getvalue()])
        print(json.dumps(outcomes))
        """
    )
    out = run_python(code, env=production_env)
    assert out.returncode == 0, out.stderr[-3000:]
    outcomes = json.loads(out.stdout.strip().splitlines()[-1])
    assert [args for args, _, _ in outcomes] == DEMO_COMMANDS
    for args, code, stderr in outcomes:
        assert code == 2, (args, stderr)
        errors = [line for line in stderr.splitlines() if line.startswith("braze-assets:")]
        assert len(errors) == 1, (args, stderr)
        assert "pip install 'braze-assets[demo]'" in errors[0], (args, stderr)
    assert not (Path(production_env["BRAZE_ASSETS_DATA_DIR"]) / "warehouse.duckdb").exists()
