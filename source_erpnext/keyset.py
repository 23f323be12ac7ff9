"""Keyset positions over (key, name), the key being `modified` or `creation`: what a page starts after, what a state
saves, and how to ask Frappe for it."""

import threading
from datetime import datetime
from typing import Any, Dict, Mapping

from .spec import format_datetime

MODIFIED, CREATION = "modified", "creation"
# Frappe's own floor for datetimes (FallBackDateTimeStr). A page with no position still asks `key >= EARLIEST`:
# without a condition on the key, MariaDB plans `order by key, name limit N` as a scan and sort of the whole table;
# with one, as a range on the key's index read in order (measured on MariaDB 10.11 from ~4k rows up).
EARLIEST = "0001-01-01 00:00:00.000000"


def keyset_order(key: str = MODIFIED) -> str:
    return f"{key} asc, name asc"


def parse_modified(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("T", " "))


def position_of(row: Mapping[str, Any], key: str = MODIFIED) -> Dict[str, str]:
    return {key: format_datetime(parse_modified(row[key])), "name": row["name"]}


def saved_position(value: Mapping[str, Any], key: str = MODIFIED) -> Dict[str, str]:
    """A position from a saved state: the key's value (normalised), and `name` when there is one."""
    if not value or not value.get(key):
        return {}
    position = {key: format_datetime(parse_modified(value[key]))}
    if isinstance(value.get("name"), str):
        position["name"] = value["name"]
    return position


def later_position(saved: Mapping[str, Any], position: Mapping[str, Any], key: str = MODIFIED) -> Dict[str, str]:
    """`position`, unless it lies before `saved` (rows re-read in the lookback window): a state never moves back."""
    chosen = position if position.get(key) and position[key] >= saved.get(key, "") else saved
    return {k: chosen[k] for k in (key, "name") if chosen.get(k) is not None}


def keyset_filters(position: Mapping[str, str], key: str = MODIFIED) -> tuple:
    """(filters, or_filters) for rows after `position` in (key, name) order.

    key >= K AND (key > K OR name > N) is "key > K or (key = K and name > N)" in Frappe's filter language, where
    filters are ANDed and or_filters ORed.
    """
    filters = [[key, ">=", position.get(key) or EARLIEST]]
    if not position.get(key) or position.get("name") is None:
        return filters, []
    return filters, [[key, ">", position[key]], ["name", ">", position["name"]]]


class PageSizeProbe:
    """Remembers the largest page one listing (a stream's records, its child rows, its deletions) has returned.

    A page shorter than asked ends a listing only when the listing has already returned a longer page, so a
    site or proxy that caps the page size silently (fewer rows than asked) never cuts a listing short.
    """

    def __init__(self) -> None:
        self._largest = 0
        self._lock = threading.Lock()

    @property
    def largest(self) -> int:
        return self._largest

    def is_last_page(self, rows: int, asked: int, proven: int = 0) -> bool:
        """`proven`: a page size the stream has seen elsewhere (its records' pages, for its child rows)."""
        with self._lock:
            known_uncapped = rows < max(self._largest, proven)
            self._largest = max(self._largest, rows)
        return rows == 0 or (rows < asked and known_uncapped)
