"""Loading the code location uses no deprecated or superseded Dagster API.

Run in a fresh interpreter: the definitions are built at import, and an already-imported module
would hide the warnings.
"""

import subprocess
import sys

SCRIPT = """
import warnings
warnings.simplefilter("error", DeprecationWarning)
from dagster_shared.utils.warnings import SupersessionWarning
warnings.simplefilter("error", SupersessionWarning)
import braze_assets.definitions
"""


def test_importing_the_definitions_raises_no_dagster_deprecation_or_supersession_warning():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
