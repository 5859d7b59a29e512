"""Shared table and asset names are spelled once, in braze_assets/tables.py."""

import re
from pathlib import Path

from braze_assets import tables

PACKAGE = Path(tables.__file__).resolve().parent


def test_no_shared_table_name_is_repeated_as_a_literal():
    names = "|".join(map(re.escape, tables.SHARED))
    pattern = re.compile(r"""(?<![\w])["'](""" + names + r""")["']""")
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != Path(tables.__file__).resolve()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == [], "use braze_assets.tables instead:\n" + "\n".join(found)


def test_the_sync_op_name_is_derived_not_spelled():
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if "braze_sync_results__" in path.read_text()
    ]
    assert offenders == []
