"""Deterministic demo data for a US retailer: overlapping, noisy customer sources plus transactions."""

from braze_assets.demo_data.generator import (
    DemoDataExistsError,
    DemoDataSummary,
    generate_demo_data,
)

__all__ = ["DemoDataExistsError", "DemoDataSummary", "generate_demo_data"]
