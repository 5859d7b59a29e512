"""The cross-section checks run after every config load, in data-path order."""

from __future__ import annotations

from collections.abc import Callable

from braze_assets.attributes.config import check_destinations
from braze_assets.audiences.config import check_audiences
from braze_assets.config.errors import ConfigError
from braze_assets.config.model import ProjectConfig


def _sync_destinations(config: ProjectConfig) -> None:
    known = [d.name for d in config.destinations]
    for name in config.sync.destinations:
        if name not in known:
            raise ConfigError(
                f"sync settings for unknown destination {name!r}; known: {', '.join(known) or 'none'}",
                entry=f"sync.destinations.{name}",
            )


def _consent(config: ProjectConfig) -> None:
    from braze_assets.lifecycle.consent import consent_problem, subscription_group_problem

    consent = config.sync.lifecycle.consent
    problem = consent_problem(
        config.sources, config.destinations, consent.authority
    ) or subscription_group_problem(config.sources, consent.authority, consent.subscription_groups)
    if problem is not None:
        entry, message = problem
        raise ConfigError(message, entry=entry)


CROSS_CHECKS: list[Callable[[ProjectConfig], None]] = [
    check_destinations,
    check_audiences,
    _sync_destinations,
    _consent,
]
