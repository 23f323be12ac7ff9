"""A sync across a fall-back of the site's clocks misses nothing: `modified` is the site's wall time (System Settings
time_zone), and when clocks fall back an hour repeats, so a document edited in the second pass carries a `modified`
older than a position saved in the first. The test server's site runs in a real zone; documents are saved in both
passes of the repeated hour (their wall times as Frappe writes them)."""

import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from airbyte_cdk.models import Status

from integration_tests.erpnext_server import ErpnextTestServer
from integration_tests.test_sync import config_for, enabled, final_state, names, sync
from source_erpnext import SourceErpnext


def fall_back(zone: ZoneInfo, year: int = 2030) -> datetime:
    """The wall time at which the zone's autumn hour starts to repeat (e.g. 01:00 in New York, 02:00 in Berlin)."""
    moment = datetime(year, 7, 1, tzinfo=timezone.utc)
    while moment.year == year:
        after = moment + timedelta(minutes=15)
        if after.astimezone(zone).utcoffset() < moment.astimezone(zone).utcoffset():
            return after.astimezone(zone).replace(tzinfo=None, minute=0)
        moment = after
    raise AssertionError(f"{zone} has no fall-back in {year}")


def wall(start: datetime, minutes: int) -> str:
    return (start + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S.%f")


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin"])
def test_a_sync_across_a_fall_back_reads_the_edits_of_both_passes_of_the_repeated_hour(zone):
    repeated = fall_back(ZoneInfo(zone))
    with ErpnextTestServer(items=60, seed=21, time_zone=zone) as srv:
        config = config_for(srv, page_size=20)  # the default 5-minute lookback
        items = sorted(enabled(srv, "Item"))
        first_pass, second_pass = items[:2], items[2:5]
        srv.edit_at("Item", first_pass[0], wall(repeated, 10))  # 01:10 daylight time (New York)
        srv.edit_at("Item", first_pass[1], wall(repeated, 50))  # 01:50 daylight time: the saved position
        first = sync(config, ["item"])
        assert final_state(first)[0].stream.stream_state.modified == wall(repeated, 50)

        srv.edit_at("Item", second_pass[0], wall(repeated, 5))  # 01:05 standard time, an hour later in real time
        srv.edit_at("Item", second_pass[1], wall(repeated, 30))  # 01:30 standard time
        srv.edit_at("Item", second_pass[2], wall(repeated, 70))  # 02:10 standard time
        second = sync(config, ["item"], state=final_state(first))
        assert set(second_pass) <= set(names(second, "item"))

        srv.time_zone = "UTC"  # the same edits on a site whose clock never falls back: the 5 minutes reach 01:45 only
        control = sync(config, ["item"], state=final_state(first))
        assert set(names(control, "item")) & set(second_pass) == {second_pass[2]}


def test_check_warns_when_the_api_user_may_not_read_the_sites_time_zone(make_erpnext_server, caplog):
    """Only System Manager may read System Settings in ERPNext: check passes (syncs take the zone Frappe reports for
    the user) and says what to grant."""
    srv = make_erpnext_server(items=20, seed=22)
    srv.set_permission("System Settings", False)
    status = SourceErpnext().check(logging.getLogger("airbyte"), config_for(srv, sync_deletions=False))
    assert status.status == Status.SUCCEEDED, status.message
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("may not read System Settings" in w and "Read permission on System Settings" in w for w in warnings), warnings
    caplog.clear()
    srv.set_permission("System Settings", True)
    assert SourceErpnext().check(logging.getLogger("airbyte"), config_for(srv, sync_deletions=False)).status == Status.SUCCEEDED
    assert not any("System Settings" in r.getMessage() for r in caplog.records)


def test_a_read_without_system_settings_takes_the_zone_frappe_reports_for_the_user(make_erpnext_server, caplog):
    srv = make_erpnext_server(items=40, seed=23)
    srv.time_zone = "America/New_York"
    srv.set_permission("System Settings", False)
    repeated = fall_back(ZoneInfo("America/New_York"))
    config = config_for(srv, lookback_window_minutes=0)
    items = sorted(enabled(srv, "Item"))
    srv.edit_at("Item", items[0], wall(repeated, 50))
    first = sync(config, ["item"])
    srv.edit_at("Item", items[1], wall(repeated, 20))  # second pass
    second = sync(config, ["item"], state=final_state(first))
    assert items[1] in names(second, "item")
    assert any("may not read System Settings" in r.getMessage() for r in caplog.records)
