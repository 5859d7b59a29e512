"""The Dagster UI as a user meets it, in a real headless Chromium against a materialised demo."""

from __future__ import annotations

import time

import duckdb
import pytest

from braze_assets.settings import PROJECT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SCREENSHOT = PROJECT_DIR / "docs" / "images" / "lineage.png"
# The contract tables, preferred in this order for the asset page check.
KEY_ASSETS = ("customer_360", "braze_customer_attributes", "currents_events", "raw_ecommerce")


def _defined_assets() -> dict[str, str]:
    """Every materialisable asset's graph label and its group, from the definitions as they are now."""
    from braze_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    return {
        key.path[-1]: graph.get(key).group_name
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable
    }


def _shows(label: str, name: str) -> bool:
    """True when a graph label is the name or the UI's middle truncation of it ("braze_…_attributes")."""
    if label == name:
        return True
    head, sep, tail = label.partition("…")
    return (
        bool(sep)
        and len(head) + len(tail) < len(name)
        and name.startswith(head)
        and name.endswith(tail)
    )


_DRAWN_BOX = """svg => {
    const boxes = [...svg.querySelectorAll("foreignObject")].map(e => e.getBoundingClientRect());
    return {left: Math.min(...boxes.map(b => b.left)), top: Math.min(...boxes.map(b => b.top)),
            right: Math.max(...boxes.map(b => b.right)), bottom: Math.max(...boxes.map(b => b.bottom))};
}"""


def _graph_clip(page) -> dict:
    """The groups and nodes as drawn, with a margin, below the toolbar: the README picture."""
    drawn = page.locator('svg[class*="svgContainer"]').first.evaluate(_DRAWN_BOX)
    toolbar = page.get_by_text("Search and filter assets").first.bounding_box()
    size, margin = page.viewport_size, 16
    x = max(drawn["left"] - margin, 0)
    y = max(drawn["top"] - margin, toolbar["y"] + toolbar["height"] + 28)
    right, bottom = (
        min(drawn["right"] + 4, size["width"]),
        min(drawn["bottom"] + margin, size["height"]),
    )
    return {"x": x, "y": y, "width": right - x, "height": bottom - y}


def test_lineage_graph_shows_every_asset(chromium, pointed_demo, dagster_ui, browser_page):
    assets = _defined_assets()
    assert {"raw_ecommerce", "raw_txn_orders"} <= set(assets), (
        f"the raw source assets are missing: {sorted(assets)}"
    )
    page = browser_page
    # Wide enough that the fitted graph shows every node (the UI only renders nodes in view).
    page.set_viewport_size({"width": 2400, "height": 1300})
    expanded = ",".join(sorted(f"global@global:{group}" for group in set(assets.values())))
    page.goto(f"{dagster_ui.url}/asset-groups?expanded={expanded}")
    page.get_by_text("raw_ecommerce", exact=True).first.wait_for()

    # The layout is computed off the main thread; nodes appear as it completes.
    deadline = time.monotonic() + 20
    while True:
        labels = [line.strip() for line in page.inner_text("body").splitlines() if line.strip()]
        missing = [name for name in assets if not any(_shows(label, name) for label in labels)]
        if not missing or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    assert not missing, f"the lineage graph does not show {missing}; it shows {labels}"

    # Materialisation status colours the nodes once its own query answers.
    page.wait_for_load_state("networkidle")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), clip=_graph_clip(page))
    for secret in pointed_demo.secrets:
        assert secret not in page.content()


def test_asset_page_renders_materialization_metadata(
    chromium, pointed_demo, dagster_ui, browser_page
):
    assets = _defined_assets()
    name = next(a for a in KEY_ASSETS if a in assets)
    with duckdb.connect(str(pointed_demo.data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        columns = [c[0] for c in con.execute(f'DESCRIBE "{name}"').fetchall()]
    page = browser_page
    page.goto(f"{dagster_ui.url}/assets/{name}?view=events")
    page.get_by_text("dagster/row_count", exact=True).first.wait_for()

    metadata = page.get_by_role("row").filter(has_text="dagster/row_count").first
    assert metadata.inner_text().split() == ["dagster/row_count", str(rows)]

    page.get_by_role("row").filter(has_text="preview").get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("table").first.wait_for()
    header = dialog.get_by_role("columnheader").all_inner_texts()
    assert header[: len(columns)] == columns, (
        f"the preview of {name} renders {header}, the table has {columns}"
    )
    for secret in pointed_demo.secrets:
        assert secret not in page.content()
