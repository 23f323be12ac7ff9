"""The list requests of one stream's DocType: pages over a key or by name (child rows attached), the names of changed
documents, and one-value lookups (a count, a key's value at an offset, the newest `modified`)."""

import json
import logging
from datetime import timedelta
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .deletions import DELETED_DOCUMENT
from .http import REQUEST_TIMEOUT, RequestLimiter, decode_json, get_json, http_client, resource_path
from .keyset import EARLIEST, MODIFIED, PageSizeProbe, keyset_filters, keyset_order, parse_modified, position_of
from .request_line import REQUEST_LINE_BUDGET, compact_json, fit_in_filter, in_value, request_line_length
from .spec import ErpnextConfig, format_datetime


SHARED_STRING_LENGTH = 48  # values up to this long are the repeated kind: owners, currencies, warehouses, parenttype


def rows_of(response: requests.Response, doctype: str) -> List[dict]:
    answer = decode_json(response) if response.content else None
    rows = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(rows, list):
        message = f"ERPNext's answer for {doctype} holds no list of records under 'data'."
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
    share_repeated_strings(rows)
    return rows


def share_repeated_strings(rows: List[dict]) -> None:
    """One string object for each short value an answer repeats. Decoded pages are most of a read's memory, and the
    decoder makes a new object for every value: with every child table, 6-20 MB less peak RSS at 100k-500k documents
    for ~4% more CPU."""
    shared: Dict[str, str] = {}
    for row in rows:
        if isinstance(row, dict):
            for field, value in row.items():
                if value.__class__ is str and len(value) <= SHARED_STRING_LENGTH:
                    row[field] = shared.setdefault(value, value)


class DocTypeLister:
    def __init__(self, stream: str, doctype: str, config: ErpnextConfig, limiter: RequestLimiter, logger: logging.Logger, filters: Callable[[], List[list]]):
        self.doctype, self.config, self.list_filters = doctype, config, filters
        self.probe = PageSizeProbe()  # the stream's own pages: child rows and deletions have theirs
        self.client = http_client(stream, config, logger, doctype, limiter)
        self._deletions_client = http_client(stream, config, logger, DELETED_DOCUMENT, limiter)
        # Child-row requests grow with the names of a page's parents: one refused for its length is split, not failed.
        self.children_client = http_client(stream, config, logger, doctype, limiter, splittable=True)
        self.fields: Optional[List[str]] = None  # the catalog's selected columns, when it selects some
        self.attach_children: Callable[[List[dict]], None] = lambda rows: None
        self.page_slots = limiter.pages  # (limiter.page_slots: fewer for pages with several child tables)

    def url_of(self, doctype: str) -> str:
        return f"{self.config.base_url}/{resource_path(doctype)}"

    def get_list(self, doctype: str, params: Mapping[str, Any], client: Any = None) -> List[dict]:
        client = client or (self._deletions_client if doctype == DELETED_DOCUMENT else self.client)
        _, response = client.send_request("GET", self.url_of(doctype), request_kwargs={"timeout": REQUEST_TIMEOUT}, params=dict(params))
        return rows_of(response, doctype)

    def pages(self, start: Mapping[str, str], before: Optional[str] = None, extra: Optional[list] = None, key: str = MODIFIED) -> Iterator[List[dict]]:
        """Pages of records after `start` in (key, name) order, up to `before` if given, matching `extra` too."""
        position = dict(start)
        while True:
            with self.page_slots:  # held until the page is handed on: the consumer asks for the next one
                rows = self.get_list(self.doctype, self.page_params({"position": position, "before": before, "extra": extra or [], "key": key}))
                if rows and position_of(rows[-1], key) == position:
                    # A site that ignores the position filter would make us read the same page forever.
                    message = f"ERPNext did not move past {position} when asked for the next page of {self.doctype}; its list API ignores filters."
                    raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
                last = self.probe.is_last_page(len(rows), self.config.page_size)  # seen even if the reader stops here
                if rows:
                    self.attach_children(rows)
                    yield rows
            if last:
                return
            position = position_of(rows[-1], key)

    def documents_named(self, names: List[str]) -> Iterator[List[dict]]:
        """Pages of the documents named; names that no longer match the filters, or are gone, are left out. A site that
        returns fewer rows than asked is asked again for the rest."""
        params_for = lambda value: self.page_params({"names": value})  # noqa: E731
        for run in fit_in_filter(self.url_of(self.doctype), params_for, names, REQUEST_LINE_BUDGET):
            for i in range(0, len(run), self.config.page_size):
                wanted = run[i:i + self.config.page_size]
                while wanted:
                    with self.page_slots:
                        rows = self.get_list(self.doctype, self.page_params({"names": in_value(wanted)}))
                        if rows:
                            self.attach_children(rows)
                            yield rows
                    got = {row["name"] for row in rows}
                    wanted = [name for name in wanted if name not in got] if got else []

    def page_params(self, token: Mapping[str, Any]) -> Dict[str, Any]:
        """A page after a position (`position`, `before`, `extra`, `key`) or of documents by name (`names`)."""
        key = token.get("key", MODIFIED)
        if "names" in token:
            filters, or_filters, order = [["name", "in", token["names"]]], [], "name asc"
        else:
            filters, or_filters = keyset_filters(token.get("position") or {}, key)
            filters += [[key, "<", token["before"]]] if token.get("before") else []
            order = keyset_order(key)
        params = {"fields": json.dumps(["*"]), "filters": compact_json(self.list_filters() + list(token.get("extra") or []) + filters), "order_by": order, "limit_page_length": self.config.page_size}
        if or_filters:
            params["or_filters"] = compact_json(or_filters)
        if self.fields:  # the selected columns, unless naming them makes the request too long (then all, kept by the stream)
            selected = {**params, "fields": compact_json(self.fields)}
            if request_line_length(self.url_of(self.doctype), selected) <= REQUEST_LINE_BUDGET:
                return selected
        return params

    def names_page(self, position: Mapping[str, str], extra: list, size: int) -> List[dict]:
        """Up to `size` names (and `modified`) of documents after `position` in (modified, name) order."""
        filters, or_filters = keyset_filters(position)
        params = {"fields": compact_json(["name", "modified"]), "filters": compact_json(self.list_filters() + list(extra) + filters), "order_by": keyset_order(), "limit_page_length": size}
        return self.get_list(self.doctype, {**params, "or_filters": compact_json(or_filters)} if or_filters else params)

    def count(self, filters: list) -> int:
        answer = get_json(self.client, self.config, "api/method/frappe.client.get_count", {"doctype": self.doctype, "filters": json.dumps(filters)})
        return int(answer.get("message") or 0) if isinstance(answer, dict) else 0  # 0: not worth splitting

    def value_at_offset(self, filters: list, offset: int, key: str = MODIFIED) -> Optional[str]:
        rows = self.get_list(self.doctype, {"fields": json.dumps([key]), "filters": json.dumps(filters), "order_by": f"{key} asc", "limit_start": offset, "limit_page_length": 1})
        return format_datetime(parse_modified(rows[0][key])) if rows else None

    def newest_modified(self) -> Optional[str]:
        """Just after the newest `modified` of the stream's documents now (where a full refresh's ranges end)."""
        filters = self.list_filters() + [["modified", ">=", EARLIEST]]  # as pages ask: a range on the modified index
        params = {"doctype": self.doctype, "fields": json.dumps(["modified"]), "filters": compact_json(filters), "order_by": "modified desc", "limit_page_length": 1}
        answer = get_json(self.client, self.config, "api/method/frappe.client.get_list", params)
        rows = answer.get("message") if isinstance(answer, dict) else None
        if not isinstance(rows, list) or not rows:
            return None
        return format_datetime(parse_modified(rows[0]["modified"]) + timedelta(microseconds=1))

    def check_read(self, doctype: str) -> None:
        """One cheap list request: a 403 names the DocType and the permission to grant."""
        self.get_list(doctype, {"fields": json.dumps(["name"]), "limit_page_length": 1})
