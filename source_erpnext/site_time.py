"""The site's time zone and what it means for a lookback: `modified` is the site's local wall time (System Settings
`time_zone`), which repeats an hour when clocks fall back."""

import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .http import get_json, refused
from .spec import ErpnextConfig

# Longer than any fall-back there has been (most are 1 hour, a few 2): a transition within this much real time after
# the lookback's start can repeat wall times before it.
LONGEST_FALL_BACK = timedelta(hours=3)
SYSTEM_SETTINGS_TIME_ZONE = ("api/method/frappe.client.get_single_value", {"doctype": "System Settings", "field": "time_zone"})
# allow_guest in Frappe 15 and 16: the defaults of the logged-in user merged over the system's, so a time zone set on
# the API user's own User record wins over the site's.
USER_TIME_ZONE = "api/method/frappe.client.get_time_zone"


def system_time_zone(client: Any, config: ErpnextConfig) -> Any:
    """System Settings' time_zone (raises when the API user may not read System Settings)."""
    path, params = SYSTEM_SETTINGS_TIME_ZONE
    answer = get_json(client, config, path, params)
    return answer.get("message") if isinstance(answer, dict) else None


def fetch_time_zone(client: Any, config: ErpnextConfig, logger: logging.Logger) -> Optional[ZoneInfo]:
    """The zone `modified` is written in: System Settings' time_zone; if the API user may not read System Settings,
    the zone Frappe reports for the user (the site's unless the user's own record sets another), with a warning."""
    try:
        name = system_time_zone(client, config)
    except AirbyteTracedException as error:
        if not refused(error):
            raise
        answer = get_json(client, config, USER_TIME_ZONE)
        message = answer.get("message") if isinstance(answer, dict) else None
        name = message.get("time_zone") if isinstance(message, dict) else None
        logger.warning(
            f"The API user may not read System Settings, so the site's time zone is taken as {name!r}, the one ERPNext "
            "reports for the user (their own Time Zone setting, if set, wins). Give one of the user's roles Read on "
            "System Settings so daylight-saving changes are handled in the site's zone."
        )
    zone = zone_named(name)
    if zone is None:
        logger.warning(f"ERPNext's time zone {name!r} is not one Python knows; daylight-saving changes are not accounted for.")
    return zone


def zone_named(name: Any) -> Optional[ZoneInfo]:
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def lookback_start(saved: datetime, lookback: timedelta, zone: Optional[ZoneInfo]) -> datetime:
    """The earliest wall time a document saved from `lookback` before `saved` (in real time) on can carry.

    Without a zone, wall time is taken as real time. With one, the lookback is real time (a spring-forward gap is not
    counted), and when clocks fall back within it or just after it, the start moves back by the hour that repeats:
    a document edited in the repeated hour's second pass carries a wall time older than one saved in its first pass.
    """
    if zone is None:
        return saved - lookback
    # The earliest real moment `saved` can mean (fold=0 is the first pass of a repeated hour).
    real = saved.replace(tzinfo=zone, fold=0).astimezone(timezone.utc) - lookback
    start = real.astimezone(zone).replace(tzinfo=None)
    offset, later = real.astimezone(zone).utcoffset(), (real + LONGEST_FALL_BACK).astimezone(zone).utcoffset()
    if offset is not None and later is not None and later < offset:
        start -= offset - later
    return start


class AskedOnce:
    """A fact about the site (its time zone, its Frappe version), asked for once per run by the first read that needs
    it, and shared by the streams."""

    def __init__(self, fetch: Callable[[], Any]):
        self._fetch = fetch
        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None

    def get(self) -> Any:
        with self._lock:
            if not self._done:
                self._value = self._fetch()
                self._done = True
            return self._value

