"""The lifecycle tests use the sync tests' warehouse connection."""

from braze_assets_tests.sync.conftest import con  # noqa: F401  (the fixture)
