"""Child-table rows (Sales Order Item, Item Reorder, ...) for a page of parent records, in as few requests as fit
the web server's request line: `parent in [...]` per run of parents, never one request per document."""

import re
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.request_window_split_exception import RequestWindowSplitRequiredException
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .concurrency import map_concurrently
from .keyset import PageSizeProbe
from .request_line import CONTINUATION_ROOM, MAX_REQUEST_LINE, REQUEST_LINE_BUDGET, compact_json, fit_in_filter, in_value, request_line_length

CHILD_PAGES_PER_PARENT_PAGE = 4  # child rows asked per request, in parent pages: most pages need one request
GetList = Callable[[str, Mapping[str, object]], List[dict]]


def budget_after_refusal(reason: str, length: int) -> int:
    """A budget under the limit a refusal names (gunicorn: "Request Line is too large (6786 > 4094)"), else 3/4 of the
    refused length."""
    limit = re.search(r"\(\d+ > (\d+)\)", reason)
    return int(limit.group(1)) * REQUEST_LINE_BUDGET // MAX_REQUEST_LINE if limit else length * 3 // 4


class ChildRows:
    """Attaches child rows to parent records; learns from its own pages (PageSizeProbe) and from the server's refusals
    (a request refused for its length lowers the budget for the rest of the run)."""

    def __init__(
        self,
        parent_doctype: str,
        child_tables: Mapping[str, str],
        fields: Mapping[str, List[str]],
        get_list: GetList,
        url_of: Callable[[str], str],
        page_size: int,
        parent_pages: PageSizeProbe,
        side_by_side: bool = False,
    ):
        self._parent = parent_doctype
        self.tables = child_tables  # record field -> child DocType
        self._fields = fields  # record field -> the child columns to ask for
        self._get_list = get_list
        self._url_of = url_of
        self._limit = page_size * CHILD_PAGES_PER_PARENT_PAGE
        self._probe = PageSizeProbe()
        self._parent_pages = parent_pages  # a short child page under a page size the parents reached is the last
        self.budget = REQUEST_LINE_BUDGET
        self._side_by_side = side_by_side  # the tables of a page read in threads of their own (max_concurrency > 1)

    def attach(self, parents: List[dict]) -> None:
        """Sets each child-table field of each parent to its rows, in `idx` order. The tables are read side by side
        (`side_by_side`), so one page keeps several requests in flight and fewer pages need to be decoded at once."""
        tables = list(self.tables.items())
        read = lambda table: self._rows_by_parent(table[0], table[1], parents)  # noqa: E731
        rows_of_tables = map_concurrently(read, tables) if self._side_by_side else [read(table) for table in tables]
        for (fieldname, _), by_parent in zip(tables, rows_of_tables):
            for parent in parents:
                parent[fieldname] = sorted(by_parent[parent["name"]], key=lambda row: row.get("idx") or 0)

    def _rows_by_parent(self, fieldname: str, child: str, parents: List[dict]) -> Dict[str, List[dict]]:
        by_parent: Dict[str, List[dict]] = {row["name"]: [] for row in parents}
        seen: Set[str] = set()
        for names in self._fit(child, fieldname, list(by_parent)):
            for row in self._rows(child, fieldname, names, seen):
                by_parent.setdefault(row.get("parent"), []).append(row)
        return by_parent

    def _params(self, fieldname: str, parents: Any, after: Optional[str] = None) -> Dict[str, object]:
        """The request for the child rows of `parents` (an `in` value, see in_value), after the row named `after`."""
        filters = [["parenttype", "=", self._parent], ["parentfield", "=", fieldname], ["parent", "in", parents]]
        if after is not None:
            filters.append(["name", ">", after])
        return {"parent": self._parent, "fields": compact_json(self._fields[fieldname]), "filters": compact_json(filters), "order_by": "name asc", "limit_page_length": self._limit}

    def _fit(self, child: str, fieldname: str, names: List[str]) -> Iterator[List[str]]:
        return fit_in_filter(self._url_of(child), lambda parents: self._params(fieldname, parents), names, self.budget, CONTINUATION_ROOM)

    def _rows(self, child: str, fieldname: str, names: List[str], seen: Set[str]) -> Iterator[dict]:
        """The child rows of `names`, each once (`seen`: rows already read for this page of parents)."""
        after: Optional[str] = None
        previous: Set[str] = set()  # the names of this run's previous page
        while True:
            params = self._params(fieldname, in_value(names), after)
            length = request_line_length(self._url_of(child), params)
            refusal = f"a request line of {length} bytes is over the budget of {self.budget}" if length > self.budget else None
            if not refusal:
                try:
                    rows = self._get_list(child, params)
                except RequestWindowSplitRequiredException as error:  # refused for its length: the rest of the run uses shorter lines
                    refusal, self.budget = error.error_message, min(self.budget, budget_after_refusal(error.error_message or "", length))
            if refusal:
                if len(names) == 1:
                    message = f"ERPNext's web server refused every request for the {child} rows of {self._parent} '{names[0]}' as too long: {refusal}"
                    raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
                # Read again in shorter runs (at least two, so this ends); rows already read are skipped.
                runs = list(self._fit(child, fieldname, names))
                if len(runs) == 1:
                    runs = [names[: len(names) // 2], names[len(names) // 2 :]]
                for run in runs:
                    yield from self._rows(child, fieldname, run, seen)
                return
            if any(row["name"] in previous for row in rows):
                # A site that ignores the `name >` filter would make us read the same rows forever. (Rows read before a
                # split may come again in a shorter run: only the run's own previous page tells.)
                message = f"ERPNext did not move past '{after}' when asked for the next page of {child} rows; its list API ignores filters."
                raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
            previous = {row["name"] for row in rows}
            for row in rows:
                if row["name"] not in seen:
                    seen.add(row["name"])
                    yield row
            if self._probe.is_last_page(len(rows), self._limit, proven=self._parent_pages.largest):
                return
            after = rows[-1]["name"]
