import dagster as dg

from braze_assets.currents.config import CurrentsConfig


def event_date_partitions(config: CurrentsConfig) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists today, since Braze writes today's events all day.
    return dg.DailyPartitionsDefinition(
        start_date=config.start_date.isoformat(), end_offset=1, timezone="UTC"
    )
