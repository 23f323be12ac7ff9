"""Deleted documents: ERPNext's Deleted Document log, read as deletion records for deduped destinations."""

from typing import Any, Callable, Dict, Iterator, List, Mapping, Tuple

from .keyset import MODIFIED, PageSizeProbe, keyset_filters, keyset_order, parse_modified, position_of
from .request_line import REQUEST_LINE_BUDGET, compact_json, fit_in_filter, in_value
from .schemas import DELETED_AT
from .spec import format_datetime

DELETED_DOCUMENT = "Deleted Document"
DELETED_FIELDS = ["name", "deleted_name", "deleted_doctype", "creation", "modified", "restored"]
GetList = Callable[[str, Mapping[str, Any]], List[dict]]


def deletion_record(name: str, deleted_at: str) -> Dict[str, str]:
    """What a deduped destination needs to remove a row: its key, a cursor after its last version, the deletion time.
    Every other field is absent, which destinations read as null."""
    return {"name": name, "modified": deleted_at, DELETED_AT: deleted_at}


class DeletionLog:
    """The Deleted Document rows of one DocType, in (key, name) order: `modified`, or `creation` on Frappe 16
    (indexes.deleted_document_key)."""

    def __init__(self, doctype: str, get_list: GetList, page_size: int, url_of: Callable[[str], str], key: str = MODIFIED) -> None:
        self._doctype = doctype
        self._scope = [["deleted_doctype", "=", doctype]]
        self._get_list = get_list
        self._page_size = page_size
        self._url_of = url_of
        self.key = key
        self._probe = PageSizeProbe()

    def newest_position(self) -> Dict[str, str]:
        """The position of the newest deletion so far ({} when there is none)."""
        params = {"fields": compact_json(["name", self.key]), "filters": compact_json(self._scope), "order_by": f"{self.key} desc, name desc", "limit_page_length": 1}
        newest = self._get_list(DELETED_DOCUMENT, params)
        return position_of(newest[0], self.key) if newest else {}

    def pages(self, position: Mapping[str, str]) -> Iterator[Tuple[List[Dict[str, str]], Dict[str, str]]]:
        """(deletion records, position after them) per page of the log after `position`; restored documents skipped,
        and so are documents created again (same name) after their deletion."""
        while True:
            filters, or_filters = keyset_filters(position, self.key)
            params: Dict[str, Any] = {"fields": compact_json(DELETED_FIELDS), "filters": compact_json(self._scope + filters), "order_by": keyset_order(self.key), "limit_page_length": self._page_size}
            if or_filters:
                params["or_filters"] = compact_json(or_filters)
            rows = self._get_list(DELETED_DOCUMENT, params)
            if rows:
                position = position_of(rows[-1], self.key)
                records = [deletion_record(row["deleted_name"], row.get("creation") or row["modified"]) for row in rows if not row.get("restored")]
                yield self._not_created_again(records), position
            if self._probe.is_last_page(len(rows), self._page_size):
                return

    def _not_created_again(self, records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Deletion records less those of documents created again (same name) after the deletion: a deletion read after
        the new document's record, in this sync or a later one's lookback, would otherwise remove it downstream."""
        if not records:
            return records
        url = self._url_of(self._doctype)

        def params(names: Any) -> Dict[str, Any]:
            return {"fields": compact_json(["name", "creation"]), "filters": compact_json([["name", "in", names]]), "limit_page_length": len(records)}

        created = {}
        for run in fit_in_filter(url, params, [r["name"] for r in records], REQUEST_LINE_BUDGET):
            created.update({row["name"]: format_datetime(parse_modified(row["creation"])) for row in self._get_list(self._doctype, params(in_value(run)))})
        return [r for r in records if r["name"] not in created or created[r["name"]] < format_datetime(parse_modified(r[DELETED_AT]))]
