"""One stream class for every DocType: keyset pages over (modified, name), child rows per page, deletions, state."""

import json
import re
import threading
import time
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional
from urllib.parse import quote_plus

import requests
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    FailureType,
    StreamDescriptor,
    SyncMode,
)
from airbyte_cdk.models import Type as MessageType
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .doctypes import DocType
from .concurrency import RequestLimiter, modified_ranges, read_concurrently
from .http import REQUEST_TIMEOUT, decode_json, get_json, http_client, resource_path
from .schemas import DELETED_AT, DocTypeMeta, load_meta, stream_schema
from .spec import ErpnextConfig, format_datetime

KEYSET_ORDER = "modified asc, name asc"
DELETED_FIELDS = ["name", "deleted_name", "deleted_doctype", "creation", "modified", "restored"]
MAX_FILTER_URL_CHARS = 7000  # keeps `parent in [...]` requests under nginx's 8 KB request line
PROGRESS_SECONDS = 10
URL_SAFE = re.compile(r"[A-Za-z0-9._~-]*")  # characters a URL carries as they are


class PageSizeProbe:
    """Remembers the largest page the site has returned in this run.

    A page shorter than asked ends a listing only when the site has already returned a longer page, so a
    site or proxy that caps the page size silently (fewer rows than asked) never cuts a listing short.
    """

    def __init__(self) -> None:
        self._largest = 0
        self._lock = threading.Lock()

    def is_last_page(self, rows: int, asked: int) -> bool:
        with self._lock:
            known_uncapped = rows < self._largest
            self._largest = max(self._largest, rows)
        return rows == 0 or (rows < asked and known_uncapped)


def parse_modified(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("T", " "))


def position_of(row: Mapping[str, Any]) -> Dict[str, str]:
    return {"modified": format_datetime(parse_modified(row["modified"])), "name": row["name"]}


def saved_position(value: Mapping[str, Any]) -> Dict[str, str]:
    """A position from a saved state: `modified` (normalised), and `name` when there is one."""
    if not value or not value.get("modified"):
        return {}
    position = {"modified": format_datetime(parse_modified(value["modified"]))}
    if isinstance(value.get("name"), str):
        position["name"] = value["name"]
    return position


def later_position(saved: Mapping[str, Any], position: Mapping[str, Any]) -> Dict[str, str]:
    """`position`, unless it lies before `saved` (rows re-read in the lookback window): a state never moves back."""
    chosen = position if position.get("modified") and position["modified"] >= saved.get("modified", "") else saved
    return {key: chosen[key] for key in ("modified", "name") if chosen.get(key) is not None}


def deletion_record(name: str, deleted_at: str) -> Dict[str, str]:
    """What a deduped destination needs to remove a row: its key, a cursor after its last version, the deletion time."""
    return {"name": name, "modified": deleted_at, DELETED_AT: deleted_at}


def keyset_filters(position: Mapping[str, str]) -> tuple:
    """(filters, or_filters) for rows after `position` in (modified, name) order.

    modified >= M AND (modified > M OR name > N) is "modified > M or (modified = M and name > N)" in
    Frappe's filter language, where filters are ANDed and or_filters ORed.
    """
    if not position.get("modified"):
        return [], []
    filters = [["modified", ">=", position["modified"]]]
    if position.get("name") is None:
        return filters, []
    return filters, [["modified", ">", position["modified"]], ["name", ">", position["name"]]]


def in_filter(names: List[str]) -> Any:
    """The value of an `in` filter on names. Frappe also takes a comma-separated string (it splits and strips), about a
    third of the URL of a JSON list; names holding a comma or outer spaces need the list."""
    return ",".join(names) if all("," not in n and n == n.strip() for n in names) else names


def name_chunks(names: List[str]) -> Iterable[List[str]]:
    """Split names so that each `in` filter stays well under the web server's URL limit."""
    as_string = isinstance(in_filter(names), str)
    chunk: List[str] = []
    size = 0
    for name in names:
        if URL_SAFE.fullmatch(name):
            cost = len(name) + (3 if as_string else 10)  # `%2C` between names; or `%22name%22%2C+`
        else:
            cost = len(quote_plus(name if as_string else json.dumps(name))) + (3 if as_string else 4)
        if chunk and size + cost > MAX_FILTER_URL_CHARS:
            yield chunk
            chunk, size = [], 0
        chunk.append(name)
        size += cost
    if chunk:
        yield chunk


class DocTypeStream(HttpStream):
    primary_key = "name"
    cursor_field = "modified"
    state_checkpoint_interval = None  # a state message follows every page: see _emit

    def __init__(self, doctype: DocType, config: ErpnextConfig, probe: PageSizeProbe, limiter: RequestLimiter, standard: bool = True):
        self._doctype = doctype
        self._config = config
        self._probe = probe
        self._standard = standard
        self._state: Dict[str, Any] = {}
        self._incremental = False
        self._catch_leavers = False
        self._limiter = limiter
        super().__init__()
        self._http_client = http_client(doctype.stream, config, self.logger, doctype.doctype, limiter)
        self._deletions_client = http_client(doctype.stream, config, self.logger, "Deleted Document", limiter)

    @property
    def name(self) -> str:
        return self._doctype.stream

    @property
    def url_base(self) -> str:
        return self._config.base_url + "/"

    def path(self, **kwargs: Any) -> str:
        return resource_path(self._doctype.doctype)

    @cached_property
    def meta(self) -> DocTypeMeta:
        # Read once per run: the CDK asks for the schema once per record.
        return load_meta(self._http_client, self._config, self._doctype.doctype, self.name, self._doctype.child_tables, self.logger)

    @cached_property
    def table(self) -> DocType:
        """The stream's DocType row; for an additional DocType, completed from its metadata."""
        if self._standard:
            return self._doctype
        return replace(
            self._doctype,
            child_tables=self.meta.child_tables,
            disabled_field="disabled" if self.meta.has_field("disabled") else None,
            company_field="company" if self.meta.has_field("company") else None,
            submittable=self.meta.is_submittable,
        )

    def get_json_schema(self) -> Mapping[str, Any]:
        return self._schema

    @cached_property
    def _schema(self) -> Mapping[str, Any]:
        return stream_schema(self.meta)

    # -- state -------------------------------------------------------------------------------------

    @property
    def state(self) -> MutableMapping[str, Any]:
        return dict(self._state)

    @state.setter
    def state(self, value: Optional[Mapping[str, Any]]) -> None:
        self._state = self._valid_state(value)

    def _valid_state(self, value: Any) -> Dict[str, Any]:
        """Keep what is usable of a saved state; anything unreadable restarts from the beginning, with a warning."""
        if not value:
            return {}
        try:
            state = saved_position(value)
            if "deletions" in value:
                state["deletions"] = saved_position(value["deletions"])
            if state:
                return state
        except (TypeError, KeyError, ValueError, AttributeError):
            pass
        self.logger.warning(
            f"Stream {self.name}: the saved state {json.dumps(value, default=str)[:200]} is not one this connector "
            "wrote; reading the stream from the beginning."
        )
        return {}

    def _state_message(self) -> AirbyteMessage:
        return AirbyteMessage(
            type=MessageType.STATE,
            state=AirbyteStateMessage(
                type=AirbyteStateType.STREAM,
                stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=self.name), stream_state=AirbyteStateBlob(**self.state)),
            ),
        )

    def _advance_state(self, position: Mapping[str, str]) -> None:
        moved = later_position(self._state, position)
        self._state.pop("name", None)
        self._state.update(moved)

    def _start_position(self, saved: Optional[Mapping[str, str]]) -> Dict[str, Any]:
        """Where a read starts: the saved position (minus the lookback window), else the start date."""
        if self._incremental and saved and saved.get("modified"):
            lookback = timedelta(minutes=self._config.lookback_window_minutes)
            if not lookback:
                return dict(saved)
            return {"modified": format_datetime(parse_modified(saved["modified"]) - lookback)}
        return {"modified": self._config.start_date} if self._config.start_date else {}

    # -- reading -----------------------------------------------------------------------------------

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Any]:
        self._incremental = sync_mode == SyncMode.incremental
        # Once the destination holds the stream, a document that stops matching the config (disabled, cancelled)
        # must reach it too: such reads ask without those conditions and turn leavers into deletion records.
        self._catch_leavers = self._incremental and bool(self._state.get("modified")) and bool(self.table.status(self._config))
        self._progress = {"records": 0, "pages": 0, "logged_at": time.monotonic()}
        start = self._start_position(self._state)
        deletions_from = self._deletions_start() if self._incremental and self._config.sync_deletions else None
        pages = self.pages(start)
        try:
            first = next(pages, None)
            if first:
                yield from self._emit(first, position_of(first[-1]))
            if first and self._config.max_concurrency > 1 and len(first) >= self._config.page_size:
                # The rest of a large DocType is read in concurrent `modified` ranges; the state then only covers the
                # ranges finished in order (a watermark). The first page's slot is freed before the lookups.
                pages.close()
                ranges = modified_ranges(self, position_of(first[-1]))
                if ranges:
                    with closing(read_concurrently(self, ranges)) as range_pages:
                        for rows, watermark in range_pages:
                            yield from self._emit(rows, watermark)
                # The rest; after ranges, a final pass: documents edited while they were read moved past the last one.
                pages = self.pages(ranges.tail() if ranges else position_of(first[-1]))
            for rows in pages:
                yield from self._emit(rows, position_of(rows[-1]))
        finally:
            pages.close()  # a failed read frees its page slot now, not when its traceback is collected
        if deletions_from is not None:
            yield from self._read_deletions(deletions_from)
        self.logger.info(f"{self.name}: read {self._progress['records']:,} records in {self._progress['pages']:,} pages")

    def list_filters(self) -> List[list]:
        return self.table.filters(self._config, with_status=not self._catch_leavers)

    def _emit(self, rows: List[dict], position: Optional[Mapping[str, str]]) -> Iterable[Any]:
        self._log_progress(len(rows))
        if self._catch_leavers:
            required = self.table.status(self._config)
            rows = [row if all(row.get(f) == v for f, v in required.items()) else deletion_record(row["name"], row["modified"]) for row in rows]
        # Records leave as messages: the CDK would otherwise copy each dict and look up a transform for it.
        emitted_at, stream = int(time.time() * 1000), self.name
        for row in rows:
            yield AirbyteMessage(type=MessageType.RECORD, record=AirbyteRecordMessage(stream=stream, data=row, emitted_at=emitted_at))
        if self._incremental:
            if position:
                self._advance_state(position)
            yield self._state_message()  # after every page, even when a range ahead of the watermark delivered it

    def _log_progress(self, records: int) -> None:
        """Records and pages so far, at most every PROGRESS_SECONDS, so a long read shows it is alive without flooding."""
        self._progress["records"] += records
        self._progress["pages"] += 1 if records else 0
        now = time.monotonic()
        if now - self._progress["logged_at"] >= PROGRESS_SECONDS:
            self._progress["logged_at"] = now
            self.logger.info(f"{self.name}: {self._progress['records']:,} records in {self._progress['pages']:,} pages so far")

    def pages(self, start: Mapping[str, str], before: Optional[str] = None) -> Iterator[List[dict]]:
        """Pages of records (child rows attached) after `start` in (modified, name) order, up to `before` if given."""
        position = dict(start)
        while True:
            with self._limiter.pages:  # held until the page is handed on: the consumer asks for the next one
                _, response = self._fetch_next_page(next_page_token={"position": position, "before": before})
                rows = self._rows(response)
                if rows and position_of(rows[-1]) == position:
                    # A site that ignores the position filter would make us read the same page forever.
                    message = f"ERPNext did not move past {position} when asked for the next page of {self._doctype.doctype}; its list API ignores filters."
                    raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
                last = self._probe.is_last_page(len(rows), self._config.page_size)  # seen even if the reader stops here
                if rows:
                    self._attach_children(rows)
                    yield rows
            if last:
                return
            position = position_of(rows[-1])

    def request_params(self, stream_state: Optional[Mapping[str, Any]] = None, stream_slice: Optional[Mapping[str, Any]] = None, next_page_token: Optional[Mapping[str, Any]] = None) -> MutableMapping[str, Any]:
        token = next_page_token or {}
        filters, or_filters = keyset_filters(token.get("position") or {})
        if token.get("before"):
            filters.append(["modified", "<", token["before"]])
        return self._list_params(self.list_filters() + filters, or_filters, ["*"])

    def _list_params(self, filters: list, or_filters: list, fields: List[str]) -> Dict[str, Any]:
        params = {
            "fields": json.dumps(fields),
            "filters": json.dumps(filters),
            "order_by": KEYSET_ORDER,
            "limit_page_length": self._config.page_size,
        }
        if or_filters:
            params["or_filters"] = json.dumps(or_filters)
        return params

    def request_kwargs(self, **kwargs: Any) -> Mapping[str, Any]:
        return {"timeout": REQUEST_TIMEOUT}

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Any]:
        return self._rows(response)

    def next_page_token(self, response: requests.Response) -> Optional[Mapping[str, Any]]:
        return None  # keyset paging needs the page's rows, not the response: see pages()

    def _rows(self, response: requests.Response) -> List[dict]:
        answer = decode_json(response) if response.content else None
        rows = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(rows, list):
            message = f"ERPNext's answer for {self._doctype.doctype} holds no list of records under 'data'."
            raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
        return rows

    def _get_list(self, doctype: str, params: Mapping[str, Any]) -> List[dict]:
        client = self._deletions_client if doctype == "Deleted Document" else self._http_client
        _, response = client.send_request(
            "GET", self.url_base + resource_path(doctype), request_kwargs={"timeout": REQUEST_TIMEOUT}, params=dict(params)
        )
        return self._rows(response)

    @property
    def doctype(self) -> str:
        return self._doctype.doctype

    @property
    def config(self) -> ErpnextConfig:
        return self._config

    def count(self, filters: list) -> int:
        answer = get_json(self._http_client, self._config, "api/method/frappe.client.get_count", {"doctype": self._doctype.doctype, "filters": json.dumps(filters)})
        return int(answer.get("message") or 0) if isinstance(answer, dict) else 0  # 0: not worth splitting

    def modified_at_offset(self, filters: list, offset: int) -> Optional[str]:
        rows = self._get_list(self._doctype.doctype, {"fields": json.dumps(["modified"]), "filters": json.dumps(filters), "order_by": "modified asc", "limit_start": offset, "limit_page_length": 1})
        return format_datetime(parse_modified(rows[0]["modified"])) if rows else None

    def check_read_permission(self) -> None:
        """One cheap list request: a 403 names the DocType and the permission to grant."""
        self._get_list(self._doctype.doctype, {"fields": json.dumps(["name"]), "limit_page_length": 1})

    # -- child tables: one request per page of parents (per ~200 parents when names are long) ----------

    def _attach_children(self, rows: List[dict]) -> None:
        for fieldname, child in self.table.child_tables.items():
            by_parent: Dict[str, List[dict]] = {row["name"]: [] for row in rows}
            for names in name_chunks(list(by_parent)):
                for child_row in self._child_rows(child, fieldname, names):
                    by_parent.setdefault(child_row.get("parent"), []).append(child_row)
            for row in rows:
                row[fieldname] = sorted(by_parent[row["name"]], key=lambda child_row: child_row.get("idx") or 0)

    def _child_rows(self, child: str, fieldname: str, parents: List[str]) -> Iterable[dict]:
        scope = [["parenttype", "=", self._doctype.doctype], ["parentfield", "=", fieldname], ["parent", "in", in_filter(parents)]]
        limit = self._config.page_size * 4
        after: Optional[str] = None
        while True:
            filters = scope + ([["name", ">", after]] if after is not None else [])
            params = {"parent": self._doctype.doctype, "fields": json.dumps(["*"]), "filters": json.dumps(filters), "order_by": "name asc", "limit_page_length": limit}
            rows = self._get_list(child, params)
            yield from rows
            if self._probe.is_last_page(len(rows), limit):
                return
            after = rows[-1]["name"]

    # -- deletions ---------------------------------------------------------------------------------

    def _deletions_start(self) -> Dict[str, Any]:
        """After the saved deletion position; on a first sync, after the newest deletion so far (asked before reading
        the records, so documents deleted while they are read are still caught)."""
        if "deletions" in self._state:
            return self._start_position(self._state["deletions"])
        if self._state.get("modified"):  # deletions just turned on: from where the records were read up to
            self._state["deletions"] = {"modified": self._state["modified"]}
            return self._start_position(self._state["deletions"])
        params = {**self._list_params(self._deletions_scope(), [], ["name", "modified"]), "order_by": "modified desc, name desc", "limit_page_length": 1}
        newest = self._get_list("Deleted Document", params)
        self._state["deletions"] = position_of(newest[0]) if newest else {}  # {}: from the first deletion on
        return dict(self._state["deletions"])

    def _deletions_scope(self) -> List[list]:
        return [["deleted_doctype", "=", self._doctype.doctype]]

    def _read_deletions(self, position: Dict[str, Any]) -> Iterable[Any]:
        """Deleted Document rows for this DocType become records with _ab_cdc_deleted_at, for deduped destinations."""
        scope = self._deletions_scope()
        while True:
            filters, or_filters = keyset_filters(position)
            rows = self._get_list("Deleted Document", self._list_params(scope + filters, or_filters, DELETED_FIELDS))
            for row in rows:
                if not row.get("restored"):
                    yield deletion_record(row["deleted_name"], row.get("creation") or row["modified"])
            if rows:
                position = position_of(rows[-1])
                self._state["deletions"] = later_position(self._state["deletions"], position)
                yield self._state_message()
            if self._probe.is_last_page(len(rows), self._config.page_size):
                return
