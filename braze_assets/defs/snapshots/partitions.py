import dagster as dg

from braze_assets.sync.config import SyncConfig


def daily_partitions(config: SyncConfig) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists today (a snapshot is the intended state as of its day).
    return dg.DailyPartitionsDefinition(
        start_date=config.partitions_start_date.isoformat(), end_offset=1
    )
