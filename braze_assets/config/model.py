"""The whole project configuration: one model per section, each owned by its domain."""

from __future__ import annotations

from pydantic import Field, model_validator

from braze_assets.attributes.config import DestinationConfig
from braze_assets.audiences.config import AudiencesConfig
from braze_assets.config.sources import SourceConfig, TransactionSourceConfig
from braze_assets.currents.config import CurrentsConfig
from braze_assets.engine.config import EngineConfig
from braze_assets.identity.config import IdentityConfig
from braze_assets.strict import StrictModel
from braze_assets.sync.config import SyncConfig


class ProjectConfig(StrictModel):
    sources: list[SourceConfig] = Field(min_length=1)
    transactions: list[TransactionSourceConfig] = Field(default_factory=list)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    destinations: list[DestinationConfig] = Field(default_factory=list)
    audiences: AudiencesConfig = Field(default_factory=AudiencesConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    currents: CurrentsConfig = Field(default_factory=CurrentsConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)

    @model_validator(mode="after")
    def _references(self) -> ProjectConfig:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        for i, txn in enumerate(self.transactions):
            if txn.source not in names:
                raise ValueError(
                    f"transactions[{i}] ({txn.name}) links to unknown source {txn.source!r}; known: {', '.join(names)}"
                )
        return self

    def source(self, name: str) -> SourceConfig:
        return next(s for s in self.sources if s.name == name)
