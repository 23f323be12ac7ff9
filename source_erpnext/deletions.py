"""Deleted documents: ERPNext's Deleted Document log, read as deletion records for deduped destinations."""

from typing import Any, Callable, Dict, Iterator, List, Mapping, Tuple

from .keyset import KEYSET_ORDER, PageSizeProbe, keyset_filters, position_of
from .request_line import compact_json
from .schemas import DELETED_AT

DELETED_DOCUMENT = "Deleted Document"
DELETED_FIELDS = ["name", "deleted_name", "deleted_doctype", "creation", "modified", "restored"]
GetList = Callable[[str, Mapping[str, Any]], List[dict]]


def deletion_record(name: str, deleted_at: str) -> Dict[str, str]:
    """What a deduped destination needs to remove a row: its key, a cursor after its last version, the deletion time.
    Every other field is absent, which destinations read as null."""
    return {"name": name, "modified": deleted_at, DELETED_AT: deleted_at}


class DeletionLog:
    """The Deleted Document rows of one DocType, in (modified, name) order."""

    def __init__(self, doctype: str, get_list: GetList, page_size: int) -> None:
        self._scope = [["deleted_doctype", "=", doctype]]
        self._get_list = get_list
        self._page_size = page_size
        self._probe = PageSizeProbe()

    def newest_position(self) -> Dict[str, str]:
        """The position of the newest deletion so far ({} when there is none)."""
        params = {"fields": compact_json(["name", "modified"]), "filters": compact_json(self._scope), "order_by": "modified desc, name desc", "limit_page_length": 1}
        newest = self._get_list(DELETED_DOCUMENT, params)
        return position_of(newest[0]) if newest else {}

    def pages(self, position: Mapping[str, str]) -> Iterator[Tuple[List[Dict[str, str]], Dict[str, str]]]:
        """(deletion records, position after them) per page of the log after `position`; restored documents skipped."""
        while True:
            filters, or_filters = keyset_filters(position)
            params: Dict[str, Any] = {"fields": compact_json(DELETED_FIELDS), "filters": compact_json(self._scope + filters), "order_by": KEYSET_ORDER, "limit_page_length": self._page_size}
            if or_filters:
                params["or_filters"] = compact_json(or_filters)
            rows = self._get_list(DELETED_DOCUMENT, params)
            if rows:
                position = position_of(rows[-1])
                yield [deletion_record(row["deleted_name"], row.get("creation") or row["modified"]) for row in rows if not row.get("restored")], position
            if self._probe.is_last_page(len(rows), self._page_size):
                return
