"""Config models: the domains never import the config package (no cycle), one strict base."""

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "braze_assets"
DOMAIN_CONFIGS = sorted(PACKAGE.glob("*/config.py"))


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        node.module
        for node in ast.walk(tree)  # function-level (lazy) imports included
        if isinstance(node, ast.ImportFrom) and node.module
    ]


def test_domain_config_models_do_not_import_the_config_package():
    assert len(DOMAIN_CONFIGS) >= 5, DOMAIN_CONFIGS
    offenders = {
        str(path.relative_to(PACKAGE)): [
            m for m in _imports(path) if m.startswith("braze_assets.config")
        ]
        for path in DOMAIN_CONFIGS
    }
    assert all(not found for found in offenders.values()), offenders


def test_one_strict_base_model_and_no_getattr_fallbacks():
    sources = {path: path.read_text() for path in PACKAGE.rglob("*.py")}
    strict = [p.name for p, text in sources.items() if 'ConfigDict(extra="forbid"' in text]
    assert strict == ["strict.py"]
    fallbacks = [
        str(p)
        for p, text in sources.items()
        if re.search(r"getattr\(config, \"\w+\", None\) or ", text)
    ]
    assert fallbacks == []


def test_each_domain_config_imports_first_in_a_fresh_interpreter():
    for path in DOMAIN_CONFIGS:
        module = f"braze_assets.{path.parent.name}.config"
        out = subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
        )
        assert out.returncode == 0, (module, out.stderr[-2000:])
