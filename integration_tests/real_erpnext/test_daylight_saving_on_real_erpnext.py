"""A sync across a daylight-saving fall-back on real ERPNext: the site's time zone is America/New_York (the setup
wizard's), where 01:00-02:00 on 2026-11-01 came twice. Leads saved in the first pass of that hour, a sync, then leads
edited in its second pass (their `modified` wall time earlier than the saved position): the next sync reads them,
with the default 5-minute lookback. The timestamps are set by SQL, as only a clock that falls back could write them."""

import pytest

from integration_tests.real_site import Connector, Site

pytestmark = pytest.mark.real_erpnext

FIRST_PASS = ["2026-11-01 01:10:00.000000", "2026-11-01 01:50:00.000000"]  # EDT, before the clocks went back
SECOND_PASS = "2026-11-01 01:20:00.000000"  # EST, half an hour of real time after 01:50 EDT
SET_MODIFIED = """
names = frappe.get_all("Lead", pluck="name", order_by="name")[:3]
for name, modified in zip(names, %r):
    frappe.db.sql("update `tabLead` set modified = %%s where name = %%s", (modified, name))
frappe.db.sql("update `tabLead` set modified = %%s where name not in %%s", ("2026-10-01 12:00:00", tuple(names)))
result = {"names": names, "zone": frappe.db.get_single_value("System Settings", "time_zone")}
"""


def test_a_sync_across_a_fall_back_reads_the_edits_of_the_repeated_hour(site: Site, connector: Connector):
    config = site.config(additional_doctypes=["Lead"], sync_deletions=False)
    before = site.run(SET_MODIFIED % ([*FIRST_PASS, "2026-10-31 09:00:00.000000"],))
    assert before["zone"] == "America/New_York", before
    first = connector.read(config, streams=["lead"], incremental=True)
    assert first.returncode == 0, first.why()
    assert first.states()["lead"]["stream"]["stream_state"]["modified"].startswith("2026-11-01 01:50"), first.states()
    edited = site.run(SET_MODIFIED % ([*FIRST_PASS[:1], FIRST_PASS[1], SECOND_PASS],))["names"][2]
    second = connector.read(config, streams=["lead"], incremental=True, state=list(first.states().values()))
    assert second.returncode == 0, second.why()
    assert edited in {r["name"] for r in second.records()["lead"]}, "the lead edited in the repeated hour's second pass was missed"
