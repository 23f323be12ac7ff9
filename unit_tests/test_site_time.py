"""The lookback in the site's wall time: real minutes back, and the repeated hour of a fall-back read again."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from source_erpnext.plan import full_refresh_plan, incremental_plan
from source_erpnext.doctypes import open_documents
from source_erpnext.site_time import lookback_start
from source_erpnext.spec import parse_config

FIVE = timedelta(minutes=5)


@pytest.mark.parametrize(
    "zone, saved, expected",
    [
        # New York falls back at 02:00 EDT to 01:00 EST on 2024-11-03: a position in the repeated hour reaches back to
        # its first minute (an hour more), one after it does not.
        ("America/New_York", "2024-11-03 01:50", "2024-11-03 00:45"),
        ("America/New_York", "2024-11-03 01:02", "2024-11-02 23:57"),
        ("America/New_York", "2024-11-03 02:10", "2024-11-03 02:05"),
        ("Europe/Berlin", "2024-10-27 02:40", "2024-10-27 01:35"),
        # Spring forward (Berlin 02:00 CET -> 03:00 CEST on 2024-03-31): five real minutes before 03:02 is 01:57.
        ("Europe/Berlin", "2024-03-31 03:02", "2024-03-31 01:57"),
        ("Asia/Kolkata", "2024-11-03 01:50", "2024-11-03 01:45"),
    ],
)
def test_lookback_start(zone, saved, expected):
    start = lookback_start(datetime.fromisoformat(saved), FIVE, ZoneInfo(zone))
    assert start == datetime.fromisoformat(expected)


def test_without_a_zone_the_lookback_is_wall_time():
    assert lookback_start(datetime(2024, 11, 3, 1, 50), FIVE, None) == datetime(2024, 11, 3, 1, 45)


CONFIG = parse_config({"base_url": "https://erp.example.com", "api_key": "k", "api_secret": "s"})


def test_an_incremental_plan_reads_open_documents_up_to_its_start_then_the_changes():
    start = {"modified": "2024-05-01 00:00:00.000000"}
    refresh, changes = incremental_plan(start, CONFIG, open_documents("Sales Invoice"), has_position=True)
    assert refresh.filters == [["docstatus", "=", 1], ["outstanding_amount", ">", 0], ["modified", "<=", start["modified"]]]
    assert not refresh.moves_position and changes.moves_position and changes.ranges == [{"from": start, "to": None}]
    assert len(incremental_plan(start, CONFIG, open_documents("Item"), has_position=True)) == 1
    assert len(incremental_plan(start, CONFIG, open_documents("Sales Invoice"), has_position=False)) == 1  # first sync
    off = parse_config({**CONFIG.model_dump(), "refresh_open_documents": False})
    assert len(incremental_plan(start, off, open_documents("Sales Invoice"), has_position=True)) == 1


def test_a_full_refresh_plan_ends_its_ranges_at_the_newest_modified_and_checks_only_the_final_pass():
    main, final = full_refresh_plan(None, {}, lambda: "2024-05-01 00:00:00.000001", CONFIG)
    assert main.ranges == [{"from": {}, "to": "2024-05-01 00:00:00.000001"}] and not main.once
    assert final.ranges == [{"from": {"modified": "2024-05-01 00:00:00.000001"}, "to": None}] and final.once
    resumed = full_refresh_plan([{"from": {}, "to": "2024-02-01 00:00:00.000000"}, {"from": {"modified": "2024-05-01 00:00:00.000001"}, "to": None}], {}, lambda: None, CONFIG)
    assert [s.once for s in resumed] == [False, True]
