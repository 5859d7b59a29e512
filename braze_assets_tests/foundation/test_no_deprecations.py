"""Loading the code location uses no deprecated or superseded Dagster API, and in DuckDB mode
imports no pyspark (every Dagster and CLI process loads the code location).

Run in a fresh interpreter: the definitions are built at import, and an already-imported module
would hide the warnings.
"""

import os
import subprocess
import sys

SCRIPT = """
import warnings
warnings.simplefilter("error", DeprecationWarning)
from dagster_shared.utils.warnings import SupersessionWarning
warnings.simplefilter("error", SupersessionWarning)
import sys
import braze_assets.definitions
assert "pyspark" not in sys.modules, "DuckDB mode imported pyspark"
"""


def test_importing_the_definitions_raises_no_dagster_deprecation_or_supersession_warning():
    env = {k: v for k, v in os.environ.items() if k != "BRAZE_ASSETS_ENGINE"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
