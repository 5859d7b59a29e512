from braze_assets.config.reference import render_reference
from braze_assets.settings import PROJECT_DIR


def test_configuration_reference_is_current():
    committed = (PROJECT_DIR / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render_reference(), (
        "docs/configuration.md is stale: run `python -m braze_assets.config.reference > docs/configuration.md`"
    )


def test_every_config_key_has_a_meaning():
    undocumented = [
        line
        for line in render_reference().splitlines()
        if line.startswith("| `") and line.endswith("|  |")
    ]
    assert not undocumented, "config keys without a description:\n" + "\n".join(undocumented)
