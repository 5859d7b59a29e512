"""Declarative automation of the real code location, evaluated by Dagster's own evaluator.

The graph is the demo config's: sources reload at 05:00 UTC, every campaign has its cadence
(winback_lapsing daily 06:00, vip_appreciation weekly Monday 06:00, loyalty_upgrade_nudge monthly,
top_spenders_weekly Monday 07:00) and the destination `braze` syncs at 05:30 (sync.yaml).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from braze_assets.definitions import defs

MONDAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
TODAY = MONDAY.date().isoformat()
SYNC = dg.AssetKey(["braze_sync_results", "braze"])
ATTRIBUTES = dg.AssetKey("braze_customer_attributes")
AUDIENCES = dg.AssetKey("campaign_audiences")
SNAPSHOTS = dg.AssetKey("attribute_snapshots")
CUSTOMER_360 = dg.AssetKey("customer_360")


def _graph():
    return defs.resolve_asset_graph()


def _build(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None) -> None:
    """What a run does to the instance: the materialisation, then its checks (they ride along)."""
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
    for check in _graph().get_check_keys_for_assets({key}):
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(asset_key=key, check_name=check.name, passed=True)
        )


def _materialise_everything(instance: dg.DagsterInstance) -> None:
    """Yesterday's state: every asset and partition built once, every check passed."""
    graph = _graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        partitions = node.partitions_def
        if partitions is None:
            keys = [None]
        elif isinstance(partitions, dg.TimeWindowPartitionsDefinition):
            keys = [(MONDAY - dt.timedelta(days=1)).date().isoformat()]
        else:
            keys = list(partitions.get_partition_keys())
        for partition in keys:
            _build(instance, key, partition)


@pytest.fixture
def yesterday():
    """An instance where everything was built yesterday, and the automation's first evaluation
    (04:00 on Monday): (instance, cursor)."""
    with dg.instance_for_test() as instance:
        _materialise_everything(instance)
        first = _tick(instance, MONDAY.replace(hour=4))
        assert first.total_requested == 0
        yield instance, first.cursor


def _tick(instance, when: dt.datetime, cursor=None):
    return dg.evaluate_automation_conditions(
        defs=defs, instance=instance, evaluation_time=when, cursor=cursor
    )


def _run_until_quiet(instance, start: dt.datetime, cursor) -> dict[dg.AssetKey, set]:
    """Evaluate a tick a minute, "running" what each tick requests (its materialisations are
    reported), until a tick requests nothing: the assets and partitions the automation ran."""
    ran: dict[dg.AssetKey, set] = {}
    for minute in range(10):
        result = _tick(instance, start + dt.timedelta(minutes=minute), cursor=cursor)
        cursor = result.cursor
        if not result.total_requested:
            return ran
        for key in _graph().get_all_asset_keys():
            for partition in result.get_requested_partitions(key):
                ran.setdefault(key, set()).add(partition)
                _build(instance, key, partition)
    raise AssertionError(f"automation still requesting after 10 ticks: {ran}")


@pytest.mark.integration
def test_a_new_source_load_leads_to_audiences_and_the_sync(yesterday):
    instance, cursor = yesterday
    # Someone reloads a source file by hand.
    instance.report_runless_asset_event(dg.AssetMaterialization("raw_ecommerce"))
    ran = _run_until_quiet(instance, MONDAY.replace(hour=7, minute=30), cursor)

    for name in (
        "unified_standardised",
        "unified_coalesced",
        "customer_360",
        ATTRIBUTES.path[0],
    ):
        assert ran.get(dg.AssetKey(name)) == {None}, name
    # Campaigns whose cadence ticked since the last evaluation; not the monthly one (the 1st)
    # nor the ones run by hand (cadence `once`).
    assert ran[AUDIENCES] == {"winback_lapsing", "vip_appreciation", "top_spenders_weekly"}
    assert ran[SNAPSHOTS] == {TODAY}
    assert ran[SYNC] == {TODAY}


@pytest.mark.integration
@pytest.mark.parametrize("new_source_data", [True, False])
def test_before_the_cadences_new_data_reaches_the_snapshot_but_not_braze(
    yesterday, new_source_data
):
    instance, cursor = yesterday
    if new_source_data:
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_ecommerce"))
    ran = _run_until_quiet(instance, MONDAY.replace(hour=4, minute=30), cursor)
    if not new_source_data:
        assert ran == {}  # no new data and no cron tick: nothing runs
        return
    assert ran[ATTRIBUTES] == {None} and ran[SNAPSHOTS] == {TODAY}
    # The campaigns' cadences (06:00 / 07:00) and the sync's cron (05:30) have not ticked.
    assert AUDIENCES not in ran and SYNC not in ran


@pytest.mark.integration
@pytest.mark.parametrize("check_passed", [True, False])
def test_a_failed_blocking_check_stops_the_flow_downstream(yesterday, check_passed):
    instance, cursor = yesterday
    # customer_360 is rebuilt by hand and its uniqueness check runs.
    _build(instance, CUSTOMER_360, None)
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=CUSTOMER_360,
            check_name="one_row_per_customer",
            passed=check_passed,
            severity=dg.AssetCheckSeverity.ERROR,
        )
    )
    ran = _run_until_quiet(instance, MONDAY.replace(hour=4, minute=5), cursor)
    if check_passed:
        assert ran[ATTRIBUTES] == {None} and ran[SNAPSHOTS] == {TODAY}
    else:
        assert ran == {}


@pytest.mark.integration
def test_nothing_runs_until_the_automation_sensor_is_turned_on(tmp_path):
    """The sensor daemon's own iteration, over the code location loaded as a deployment loads it:
    in a fresh instance the automation sensor is stopped and new source data starts nothing."""
    import logging

    from dagster._core.scheduler.instigation import TickStatus
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.sensor import execute_sensor_iteration

    from braze_assets.defs.automation import AUTOMATION_SENSOR
    from braze_assets.settings import PROJECT_DIR

    target = ModuleTarget(
        module_name="braze_assets.definitions",
        attribute="defs",
        working_directory=str(PROJECT_DIR),
        location_name="braze_assets",
    )
    logger = logging.getLogger("test_automation")
    with (
        dg.instance_for_test(temp_dir=str(tmp_path)) as instance,
        create_test_daemon_workspace_context(target, instance) as workspace,
    ):
        entry = next(iter(workspace.create_request_context().get_code_location_entries().values()))
        assert entry.code_location, entry.load_error
        repo = next(iter(entry.code_location.get_repositories().values()))
        sensor = repo.get_sensor(AUTOMATION_SENSOR)
        origin, selector = sensor.get_remote_origin_id(), sensor.selector_id

        def iterate():
            list(execute_sensor_iteration(workspace, logger, None, None))
            return instance.get_ticks(origin, selector)

        _materialise_everything(instance)
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_ecommerce"))
        assert not sensor.get_current_instigator_state(
            instance.get_instigator_state(origin, selector)
        ).is_running
        assert iterate() == []  # never evaluated
        assert instance.get_runs() == [] and instance.get_backfills() == []

        instance.start_sensor(sensor)
        ticks = iterate()
        assert len(ticks) == 1 and ticks[0].status in (TickStatus.SUCCESS, TickStatus.SKIPPED), (
            ticks
        )


def test_braze_facing_assets_declare_freshness_from_the_cron_that_drives_them():
    from braze_assets.defs.automation import freshness

    graph = _graph()
    day_and_grace = dt.timedelta(days=1, hours=2)  # daily 05:00 reload / daily sync in the demo
    for key in (ATTRIBUTES, SNAPSHOTS, SYNC):
        policy = graph.get(key).freshness_policy
        assert policy is not None, key
        assert policy.fail_window.to_timedelta() == day_and_grace, key
    weekly = freshness("0 6 * * 1")
    assert weekly.fail_window.to_timedelta() == dt.timedelta(days=7, hours=2)
    assert weekly.warn_window.to_timedelta() == dt.timedelta(days=7, hours=1)
    monthly = freshness("0 6 1 * *")  # the longest month decides
    assert monthly.fail_window.to_timedelta() == dt.timedelta(days=31, hours=2)
