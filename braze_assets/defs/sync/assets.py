"""braze_sync_results/<destination>: one daily-partitioned asset per destination, sending only changes."""
# No `from __future__ import annotations` here: Dagster reads the context, config and resource annotations.

import datetime as dt
from collections.abc import Sequence

import dagster as dg
from dagster._check import CheckError
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pydantic import Field

from braze_assets import settings
from braze_assets.attributes.config import DestinationConfig
from braze_assets.config.sources import TransactionSourceConfig
from braze_assets.defs import automation
from braze_assets.defs.engine import (
    WAREHOUSE_KEY,
    engine_asset_args,
    export_tables,
    spark_engine,
)
from braze_assets.defs.snapshots.checks import GATE, gate_metadata
from braze_assets.lifecycle.orders import (
    OrderReport,
    order_riders,
    prepare_order_events,
    send_order_events,
)
from braze_assets.lifecycle.profiles import LifecycleReport, run_lifecycle
from braze_assets.lifecycle.tables import DELETIONS
from braze_assets.sync.config import ResolvedSyncSettings, SyncConfig
from braze_assets.sync.diff import CONSENT_TIMES
from braze_assets.sync.gates import check_snapshot
from braze_assets.sync.runner import (
    SyncBlocked,
    SyncFailed,
    SyncReport,
    destination_lock,
    new_run_id,
    sync_destination,
)
from braze_assets.sync.tables import CONFIRMED, REJECTIONS, RESULTS, SNAPSHOTS

# What the diff reads besides the snapshot, all written in the warehouse file: in Spark mode
# copied to the table location before each diff.
DIFF_STATE = (CONFIRMED, REJECTIONS, CONSENT_TIMES, DELETIONS)

GROUP = "sync"


class SyncRunConfig(dg.Config):
    override_budget: bool = Field(
        False, description="Send even if the forecast exceeds the data-point budget."
    )
    full_resync: bool = Field(
        False, description="Resend every intended value (one data point each)."
    )


def sync_asset_key(destination: str) -> dg.AssetKey:
    return dg.AssetKey([RESULTS, destination])


def journal_root():
    return settings.data_dir() / "sync_journal"


def resolved_settings(
    destination: DestinationConfig, config: SyncConfig, run: SyncRunConfig | None = None
) -> ResolvedSyncSettings:
    resolved = config.for_destination(
        destination.name, update_existing_only=destination.update_existing_only
    )
    if run is None:
        return resolved
    return resolved.model_copy(
        update={
            "override_budget": resolved.override_budget or run.override_budget,
            "full_resync": resolved.full_resync or run.full_resync,
        }
    )


def run_sync(
    con,
    client,
    destination: DestinationConfig,
    resolved: ResolvedSyncSettings,
    snapshot_date: dt.date | None,
    *,
    dry_run: bool = False,
    logger=None,
    riders=None,
    diff_engine=None,
) -> SyncReport:
    return sync_destination(
        con,
        client,
        destination=destination.name,
        identifier_type=destination.identifier,
        clear_attributes=[m.name for m in destination.attributes if m.nulls == "clear"],
        settings=resolved,
        journal_root=journal_root(),
        snapshot_date=snapshot_date,
        dry_run=dry_run,
        logger=logger,
        riders=riders,
        diff_engine=diff_engine,
    )


def _locked(step, con, client, destination: DestinationConfig, logger, **args):
    """A lifecycle `step` (merges and deletions, order events) of `destination` under its sync
    lock, so no other sync of the destination runs meanwhile."""
    with destination_lock(journal_root(), destination.name):
        return step(
            con,
            client,
            destination=destination.name,
            identifier_type=destination.identifier,
            **args,
            **({"log": logger} if logger is not None else {}),
        )


def run_profile_lifecycle(
    con,
    client,
    destination: DestinationConfig,
    section: SyncConfig,
    resolved,
    *,
    dry_run=False,
    logger=None,
    consent_source=None,
) -> LifecycleReport:
    """Merges and deletions of `destination`, under its sync lock (before the attribute diff, so
    the diff already knows what the merges moved and the deletions forgot)."""
    return _locked(
        run_lifecycle,
        con,
        client,
        destination,
        logger,
        merge_mode=resolved.merge_mode,
        deletions=section.lifecycle.deletions,
        run_id=new_run_id(),
        dry_run=dry_run,
        consent_source=consent_source,
        aliases=section.lifecycle.aliases,
        subscription_groups=section.lifecycle.consent.subscription_groups,
        update_existing_only=resolved.update_existing_only,
    )


def run_order_events(
    con,
    client,
    destination: DestinationConfig,
    section: SyncConfig,
    resolved,
    transactions: Sequence[TransactionSourceConfig],
    *,
    spent: int = 0,
    dry_run=False,
    logger=None,
) -> OrderReport:
    """Orders of `destination` after its attribute sync, within what is left of the budget."""
    budget = resolved.data_point_budget
    return _locked(
        send_order_events,
        con,
        client,
        destination,
        logger,
        transactions=transactions,
        config=section.lifecycle.orders,
        run_id=new_run_id(),
        data_point_budget=None if budget is None else max(0, budget - spent),
        override_budget=resolved.override_budget,
        dry_run=dry_run,
        update_existing_only=resolved.update_existing_only,
        retry_unknown_every_days=resolved.retry_unknown_every_days,
        retry_unknown_for_days=resolved.retry_unknown_for_days,
    )


def sync_with_orders(
    con, client, destination, section, resolved, transactions, day, logger, diff_engine=None
) -> tuple[SyncReport, OrderReport]:
    """The attribute sync with the day's order events packed into its requests (one budget,
    75 objects per request across the arrays). Only external-id destinations: a killed run's
    in-flight events are settled by reading profiles back, which needs external ids; the
    others send their orders after the attributes, in requests of their own."""
    config = section.lifecycle.orders
    if not (config.enabled and destination.identifier == "external_id"):
        report = run_sync(
            con, client, destination, resolved, day, logger=logger, diff_engine=diff_engine
        )
        orders = run_order_events(
            con,
            client,
            destination,
            section,
            resolved,
            transactions,
            spent=report.data_points_spent,
            logger=logger,
        )
        return report, orders
    orders, plan = _locked(
        prepare_order_events,
        con,
        client,
        destination,
        logger,
        transactions=transactions,
        config=config,
        update_existing_only=resolved.update_existing_only,
        retry_unknown_every_days=resolved.retry_unknown_every_days,
        retry_unknown_for_days=resolved.retry_unknown_for_days,
    )
    riders = order_riders(orders, plan, con, new_run_id(), config) if len(plan) else None
    report = run_sync(
        con,
        client,
        destination,
        resolved,
        day,
        logger=logger,
        riders=riders,
        diff_engine=diff_engine,
    )
    return report, orders


def report_metadata(report: SyncReport) -> dict:
    numbers = {
        key: dg.MetadataValue.float(value)
        if isinstance(value, float)
        else dg.MetadataValue.int(value)
        for key, value in report.metadata().items()
    }
    return {
        **numbers,
        "dagster/row_count": dg.MetadataValue.int(report.diff.objects),
        "sync_run_id": dg.MetadataValue.text(report.run_id),
        "snapshot_date": dg.MetadataValue.text(str(report.snapshot_date)),
        "status": dg.MetadataValue.text(report.status),
        "recovered_runs": dg.MetadataValue.text(", ".join(report.recovered_runs) or "-"),
        "recovery_notes": dg.MetadataValue.text("\n".join(report.recovery_notes) or "-"),
    }


def failed_gates(context: dg.AssetExecutionContext) -> list[str]:
    """The blocking checks upstream of this sync whose latest evaluation failed.

    Dagster skips the sync when a blocking check fails in the same run; this covers a sync run on
    its own (launched by hand or by the automation after the snapshot's run) after a failed check.
    A deployment's runs know the whole code location; an in-process run (tests) only its job.
    """
    try:
        graph = context.repository_def.asset_graph
    except CheckError:  # an in-process run has no code location: its job's graph
        graph = context.job_def.asset_layer.asset_graph
    upstream = graph.get_ancestor_asset_keys(context.asset_key)
    gates = [
        key
        for key in graph.asset_check_keys
        if key.asset_key in upstream and graph.get_check_spec(key).blocking
    ]
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(gates)
    failed = []
    for key, record in sorted(latest.items(), key=lambda item: item[0].to_user_string()):
        evaluation = record.evaluation
        if (
            record.status == AssetCheckExecutionRecordStatus.FAILED
            and evaluation is not None
            and evaluation.severity == dg.AssetCheckSeverity.ERROR
        ):
            why = f": {evaluation.description}" if evaluation.description else ""
            failed.append(f"{key.asset_key.to_user_string()} check {key.name} failed{why}")
    return failed


def build_sync_asset(
    destination: DestinationConfig,
    section: SyncConfig,
    partitions: dg.DailyPartitionsDefinition,
    transactions: Sequence[TransactionSourceConfig] = (),
    consent_source=None,
) -> dg.AssetsDefinition:
    cron = section.for_destination(destination.name).cron

    engine_args = engine_asset_args("braze", warehouse_copy=True)
    engine_args["required_resource_keys"] = {*engine_args["required_resource_keys"], "braze"}

    # In Spark mode the payload gate and the diff run on Spark, on the snapshot at the table
    # location; the journal, confirmed state and run records stay in the warehouse file (one
    # DuckDB transaction per fold), so the asset also takes the warehouse pool.
    @dg.asset(
        key=sync_asset_key(destination.name),
        group_name=GROUP,
        partitions_def=partitions,
        automation_condition=automation.sync(cron),
        # Stale when a tick of the destination's cron went by without a sync.
        freshness_policy=automation.freshness(cron),
        deps=[SNAPSHOTS],
        tags={"layer": "activation"},
        **engine_args,
        description=(
            f"Change-only sync of destination {destination.name!r}: the day's attribute_snapshots partition diffed "
            "against braze_confirmed_state; only added / changed / removed values and audience joins / leaves are "
            "sent. One row per object sent in braze_sync_results; confirmed state advances only for delivered rows; "
            "a killed run's journal is folded by the next run. Stops before sending if the data-point forecast "
            "exceeds the budget (run config override_budget to send anyway)."
        ),
    )
    def _sync(context: dg.AssetExecutionContext, config: SyncRunConfig) -> dg.MaterializeResult:
        gates = failed_gates(context)
        if gates:
            raise dg.Failure(
                description=(
                    f"{destination.name}: nothing sent to Braze, a blocking check failed: "
                    + "; ".join(gates)
                    + ". Fix the data and rerun the check (or the asset it checks)."
                )
            )
        resolved = resolved_settings(destination, section, config)
        day = dt.date.fromisoformat(context.partition_key)
        braze, warehouse = context.resources.braze, getattr(context.resources, WAREHOUSE_KEY)
        log = context.log
        with braze.get_client(logger=log) as client, warehouse.get_connection() as con:
            spark = spark_engine(context)
            # The payload gate again, on this destination's rows of the snapshot the diff reads:
            # whatever ran before, a bad snapshot is never sent. (On DuckDB on this connection:
            # DuckDB refuses a read-only one to a file this process has open read-write.)
            gate = check_snapshot(con if spark is None else spark, day, destination.name)
            if not gate.passed:
                raise dg.Failure(
                    description=(
                        f"{destination.name}: nothing sent to Braze, the {SNAPSHOTS} of {day} "
                        f"fails {GATE}: {gate.summary()}"
                    ),
                    metadata=gate_metadata(gate),
                )

            def on_spark(con):
                # After the recovery folded earlier journals: the state the diff reads, copied
                # for the engine the gate just used (not a second engine of the same session).
                return export_tables(con, spark, DIFF_STATE)

            diff = None if spark is None else on_spark

            try:
                lifecycle = run_profile_lifecycle(
                    con,
                    client,
                    destination,
                    section,
                    resolved,
                    logger=log,
                    consent_source=consent_source,
                )
                report, orders = sync_with_orders(
                    con, client, destination, section, resolved, transactions, day, log, diff
                )
            except (SyncBlocked, SyncFailed) as exc:
                raise dg.Failure(description=str(exc)) from None
        if report.objects_rejected or report.objects_not_delivered:
            context.log.warning(
                f"{destination.name}: {report.objects_rejected} objects rejected (held back until their value "
                f"changes), {report.objects_not_delivered} not delivered (retried next run)"
            )
        if orders.blocked:
            context.log.warning(orders.blocked)
        extra = {
            key: dg.MetadataValue.int(value)
            for key, value in {**lifecycle.metadata(), **orders.metadata()}.items()
        }
        return dg.MaterializeResult(metadata={**report_metadata(report), **extra})

    return _sync
