"""One stream class for every DocType: keyset pages over (modified, name), with child rows, deletions and state."""

import json
import time
from contextlib import closing
from datetime import timedelta
from functools import cached_property
from typing import Any, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Tuple

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

from .children import ChildRows
from .concurrency import Ranges, modified_ranges, open_work, read_concurrently, saved_work
from .deletions import DELETED_DOCUMENT, DeletionLog, deletion_record
from .doctypes import DocType, open_documents, with_meta
from .emitted import EmittedNames
from .http import REQUEST_TIMEOUT, RequestLimiter, decode_json, get_json, http_client, resource_path
from .keyset import EARLIEST, KEYSET_ORDER, PageSizeProbe, keyset_filters, later_position, parse_modified, position_of, saved_position
from .plan import Scan, full_refresh_plan, incremental_plan, remaining
from .request_line import REQUEST_LINE_BUDGET, compact_json, fit_in_filter, in_value, request_line_length
from .selection import Selection, selection
from .schemas import DELETED_AT, DocTypeMeta, iso_time, load_meta, stream_schema
from .site_time import SiteTimeZone, lookback_start
from .spec import ErpnextConfig, format_datetime

PROGRESS_SECONDS = 10
FULL_REFRESH_COMPLETE = "__ab_full_refresh_sync_complete"  # airbyte-cdk's mark of a finished resumable full refresh


class DocTypeStream(HttpStream):
    primary_key = "name"
    cursor_field = "modified"
    state_checkpoint_interval = None  # a state message follows every page: see _emit

    def __init__(self, doctype: DocType, config: ErpnextConfig, limiter: RequestLimiter, standard: bool = True, site_zone: Optional[SiteTimeZone] = None):
        self._doctype = doctype
        self._site_zone = site_zone or SiteTimeZone(lambda: None)  # the site's time zone, asked once per run
        self._config = config
        self._probe = PageSizeProbe()  # the stream's own pages: child rows and deletions have theirs
        self._standard = standard
        self._state: Dict[str, Any] = {}
        self._incremental = False
        self._catch_leavers = False
        self._limiter = limiter
        self._selection: Optional[Selection] = None
        super().__init__()
        self._http_client = http_client(doctype.stream, config, self.logger, doctype.doctype, limiter)
        self._deletions_client = http_client(doctype.stream, config, self.logger, DELETED_DOCUMENT, limiter)
        # Child-row requests grow with the names of a page's parents: one refused for its length is split, not failed.
        self._children_client = http_client(doctype.stream, config, self.logger, doctype.doctype, limiter, splittable=True)

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
        """The stream's DocType row completed from its metadata: every child table, and filters (doctypes.with_meta)."""
        return with_meta(self._doctype, self.meta, self._standard)

    @cached_property
    def children(self) -> ChildRows:
        def get_children(child: str, params: Mapping[str, Any]) -> List[dict]:
            return self._get_list(child, params, self._children_client)

        tables = self.table.child_tables
        fields = self._selection.child_fields if self._selection else {fieldname: ["*"] for fieldname in tables}
        return ChildRows(self._doctype.doctype, {f: tables[f] for f in fields}, fields, get_children, self._url_of, self._config.page_size, self._probe)

    @cached_property
    def deletion_log(self) -> DeletionLog:
        return DeletionLog(self._doctype.doctype, self._get_list, self._config.page_size)

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
            # A position (incremental) wins over full-refresh progress, which a stream switched to incremental may keep.
            if not value.get("modified") and value.get(FULL_REFRESH_COMPLETE) is True:
                return {FULL_REFRESH_COMPLETE: True}
            if not value.get("modified") and "full_refresh" in value:
                return {"full_refresh": saved_work(value["full_refresh"])}
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
        """Where a read starts: the saved position (minus the lookback window, widened across a fall-back of the
        site's clocks), else the start date."""
        if self._incremental and saved and saved.get("modified"):
            position = parse_modified(saved["modified"])
            start = lookback_start(position, timedelta(minutes=self._config.lookback_window_minutes), self._site_zone.get())
            return dict(saved) if start >= position else {"modified": format_datetime(start)}
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
        self._replicated_until = self._state.get("modified")  # documents created later cannot be in the destination
        self._progress = {"records": 0, "pages": 0, "logged_at": time.monotonic()}
        self._selection = selection(self.configured_json_schema, self.meta, self.table)  # the catalog's selected fields
        if self._incremental:
            for key in (FULL_REFRESH_COMPLETE, "full_refresh"):  # a full refresh's progress is no position
                self._state.pop(key, None)
            deletions_from = self._deletions_start() if self._config.sync_deletions else None
            plan = incremental_plan(self._start_position(self._state), self._config, open_documents(self.doctype), bool(self._state.get("modified")))
            for scan in plan:
                for rows, watermark, _ in self._scan_pages(scan):
                    yield from self._emit(rows, watermark if scan.moves_position else None)
            if deletions_from is not None:
                yield from self._read_deletions(deletions_from)
        elif not self._state.get(FULL_REFRESH_COMPLETE):  # else an earlier attempt of this sync read it all
            # Resumable full refresh: the state is the work left (where each range goes on), which the platform hands
            # to the next attempt of the same sync only.
            plan = full_refresh_plan(self._state.get("full_refresh"), self._start_position(None), self._newest_modified)
            emitted = EmittedNames()  # a document edited during the read is emitted once
            for i, scan in enumerate(plan):
                for rows, _, left in self._scan_pages(scan):
                    if scan.once:
                        rows = emitted.first_time(rows)
                    else:
                        emitted.add(rows)
                    self._state = {"full_refresh": left + remaining(plan, i)}
                    yield from self._emit(rows, None)
            self._state = {FULL_REFRESH_COMPLETE: True}  # the CDK emits it as the stream's last state
        self.logger.info(f"{self.name}: read {self._progress['records']:,} records in {self._progress['pages']:,} pages")

    def _scan_pages(self, scan: Scan) -> Iterator[Tuple[List[dict], Optional[Dict[str, Any]], List[Dict[str, Any]]]]:
        """Executes a scan: pages of records after each range's `from` position (up to its `to`), each with the
        watermark (a position before which every record has been emitted: the incremental state) and the scan's work
        left (what a resumed full refresh reads)."""
        work, extra = scan.ranges, scan.filters

        def left_after(position: Dict[str, Any], before: Optional[str]) -> List[Dict[str, Any]]:
            return [{"from": dict(position), "to": before}]

        ranges = Ranges(starts=[w["from"] for w in work], ends=[w["to"] for w in work]) if len(work) > 1 else None
        if ranges is None:
            before = work[0]["to"]
            pages = self.pages(work[0]["from"], before, extra)
            try:
                first = next(pages, None)
                if not first:
                    return
                yield first, position_of(first[-1]), left_after(position_of(first[-1]), before)
                if scan.splittable and self._config.max_concurrency > 1 and len(first) >= self._config.page_size:
                    # The rest of a large DocType is read in concurrent `modified` ranges. The first page's slot is
                    # freed before the lookups.
                    pages.close()
                    ranges = modified_ranges(self, position_of(first[-1]), before, extra)
                    pages = pages if ranges else self.pages(position_of(first[-1]), before, extra)
                if not ranges:
                    for rows in pages:
                        yield rows, position_of(rows[-1]), left_after(position_of(rows[-1]), before)
                    return
            finally:
                pages.close()  # a failed read frees its page slot now, not when its traceback is collected
        with closing(read_concurrently(self, ranges, extra)) as range_pages:
            for rows, watermark in range_pages:
                yield rows, watermark, ranges.work_left()
        if ranges.ends[-1] is not None:
            return
        # A final pass: documents edited while they were read moved past the open last range's end.
        pages = self.pages(ranges.tail(), None, extra)
        try:
            for rows in pages:
                yield rows, position_of(rows[-1]), open_work(position_of(rows[-1]))
        finally:
            pages.close()

    def _newest_modified(self) -> Optional[str]:
        """Where a full refresh's ranges end: just after the newest `modified` of the stream's documents now."""
        filters = self.list_filters() + [["modified", ">=", EARLIEST]]  # as pages ask: a range on the modified index
        params = {"doctype": self._doctype.doctype, "fields": json.dumps(["modified"]), "filters": compact_json(filters), "order_by": "modified desc", "limit_page_length": 1}
        answer = get_json(self._http_client, self._config, "api/method/frappe.client.get_list", params)
        rows = answer.get("message") if isinstance(answer, dict) else None
        if not isinstance(rows, list) or not rows:
            return None
        # Just after it: the newest documents are read by the ranges, the final pass only meets documents saved later.
        return format_datetime(parse_modified(rows[0]["modified"]) + timedelta(microseconds=1))

    def list_filters(self) -> List[list]:
        return self.table.filters(self._config, with_status=not self._catch_leavers)

    def _emit(self, rows: List[dict], position: Optional[Mapping[str, str]]) -> Iterable[Any]:
        """The rows as records, then a state message (incremental: `position` is the new watermark)."""
        self._log_progress(len(rows))
        self._fix_times(rows)
        if self._catch_leavers:
            rows = self._leavers_as_deletions(rows)
        if self._selection:  # what the connector asked for itself stays out of the records
            keep = self._selection.keep
            rows = [{k: v for k, v in row.items() if k in keep} for row in rows]
        # Records leave as messages: the CDK would otherwise copy each dict and look up a transform for it.
        emitted_at, stream = int(time.time() * 1000), self.name
        for row in rows:
            yield AirbyteMessage(type=MessageType.RECORD, record=AirbyteRecordMessage(stream=stream, data=row, emitted_at=emitted_at))
        if self._incremental and position:
            self._advance_state(position)
        yield self._state_message()  # after every page, even when a range ahead of the watermark delivered it

    @cached_property
    def _time_fields(self) -> Dict[str, List[str]]:
        return self.meta.time_fields()

    def _fix_times(self, rows: List[dict]) -> None:
        for table, fields in self._time_fields.items():
            for row in [child for parent in rows for child in parent.get(table) or []] if table else rows:
                for field in fields:
                    if row.get(field):
                        row[field] = iso_time(row[field])

    def _leavers_as_deletions(self, rows: List[dict]) -> List[dict]:
        """Rows that no longer match the config (disabled, cancelled) as deletion records, if they may have been
        replicated; those created after the saved position never were, and are left out."""
        required = self.table.status(self._config)
        kept = []
        for row in rows:
            if all(row.get(f) == v for f, v in required.items()):
                kept.append(row)
            elif not row.get("creation") or format_datetime(parse_modified(row["creation"])) <= self._replicated_until:
                kept.append(deletion_record(row["name"], row["modified"]))
        return kept

    def _log_progress(self, records: int) -> None:
        """Records and pages so far, at most every PROGRESS_SECONDS, so a long read shows it is alive without flooding."""
        self._progress["records"] += records
        self._progress["pages"] += 1 if records else 0
        now = time.monotonic()
        if now - self._progress["logged_at"] >= PROGRESS_SECONDS:
            self._progress["logged_at"] = now
            self.logger.info(f"{self.name}: {self._progress['records']:,} records in {self._progress['pages']:,} pages so far")

    def pages(self, start: Mapping[str, str], before: Optional[str] = None, extra: Optional[list] = None) -> Iterator[List[dict]]:
        """Pages of records (child rows attached) after `start` in (modified, name) order, up to `before` if given,
        matching the `extra` filters too."""
        position = dict(start)
        while True:
            with self._limiter.pages:  # held until the page is handed on: the consumer asks for the next one
                _, response = self._fetch_next_page(next_page_token={"position": position, "before": before, "extra": extra or []})
                rows = self._rows(response)
                if rows and position_of(rows[-1]) == position:
                    # A site that ignores the position filter would make us read the same page forever.
                    message = f"ERPNext did not move past {position} when asked for the next page of {self._doctype.doctype}; its list API ignores filters."
                    raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
                last = self._probe.is_last_page(len(rows), self._config.page_size)  # seen even if the reader stops here
                if rows:
                    if self.table.child_tables:
                        self.children.attach(rows)
                    yield rows
            if last:
                return
            position = position_of(rows[-1])

    def request_params(self, stream_state: Optional[Mapping[str, Any]] = None, stream_slice: Optional[Mapping[str, Any]] = None, next_page_token: Optional[Mapping[str, Any]] = None) -> MutableMapping[str, Any]:
        token = next_page_token or {}
        filters, or_filters = keyset_filters(token.get("position") or {})
        if token.get("before"):
            filters.append(["modified", "<", token["before"]])
        params = {"fields": json.dumps(["*"]), "filters": compact_json(self.list_filters() + list(token.get("extra") or []) + filters), "order_by": KEYSET_ORDER, "limit_page_length": self._config.page_size}
        if or_filters:
            params["or_filters"] = compact_json(or_filters)
        if self._selection:  # the selected columns, unless naming them makes the request too long (then all, kept in _emit)
            selected = {**params, "fields": compact_json(self._selection.fields)}
            if request_line_length(self._url_of(self._doctype.doctype), selected) <= REQUEST_LINE_BUDGET:
                return selected
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

    def _url_of(self, doctype: str) -> str:
        return self.url_base + resource_path(doctype)

    def _get_list(self, doctype: str, params: Mapping[str, Any], client: Any = None) -> List[dict]:
        client = client or (self._deletions_client if doctype == DELETED_DOCUMENT else self._http_client)
        _, response = client.send_request("GET", self._url_of(doctype), request_kwargs={"timeout": REQUEST_TIMEOUT}, params=dict(params))
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

    def check_deletions_permission(self) -> None:
        self.deletion_log.newest_position()

    def check_read_permission(self) -> None:
        """One cheap list request: a 403 names the DocType and the permission to grant. An additional DocType's
        metadata is read first: a child table is explained as such (Frappe refuses to list it on its own)."""
        if not self._standard:
            self.table  # noqa: B018 (raises the config error that explains a child table)
        self._get_list(self._doctype.doctype, {"fields": json.dumps(["name"]), "limit_page_length": 1})

    # -- deletions ---------------------------------------------------------------------------------

    def _not_created_again(self, records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Deletion records less those of documents created again (same name) after the deletion: a deletion read after
        the new document's record, in this sync or a later one's lookback, would otherwise remove it downstream."""
        if not records:
            return records
        url = self._url_of(self._doctype.doctype)

        def params(names: Any) -> Dict[str, Any]:
            return {"fields": compact_json(["name", "creation"]), "filters": compact_json([["name", "in", names]]), "limit_page_length": len(records)}

        created = {}
        for run in fit_in_filter(url, params, [r["name"] for r in records], REQUEST_LINE_BUDGET):
            created.update({row["name"]: format_datetime(parse_modified(row["creation"])) for row in self._get_list(self._doctype.doctype, params(in_value(run)))})
        return [r for r in records if r["name"] not in created or created[r["name"]] < format_datetime(parse_modified(r[DELETED_AT]))]

    def _deletions_start(self) -> Dict[str, Any]:
        """After the saved deletion position; on a first sync, after the newest deletion so far (asked before reading
        the records, so documents deleted while they are read are still caught)."""
        if "deletions" in self._state:
            return self._start_position(self._state["deletions"])
        if self._state.get("modified"):  # deletions just turned on: from where the records were read up to
            self._state["deletions"] = {"modified": self._state["modified"]}
            return self._start_position(self._state["deletions"])
        self._state["deletions"] = self.deletion_log.newest_position()  # {}: from the first deletion on
        return dict(self._state["deletions"])

    def _read_deletions(self, position: Dict[str, Any]) -> Iterable[Any]:
        """Deleted Document rows for this DocType become records with _ab_cdc_deleted_at, for deduped destinations."""
        for records, position in self.deletion_log.pages(position):
            records = self._not_created_again(records)
            emitted_at = int(time.time() * 1000)
            for record in records:
                yield AirbyteMessage(type=MessageType.RECORD, record=AirbyteRecordMessage(stream=self.name, data=record, emitted_at=emitted_at))
            self._state["deletions"] = later_position(self._state["deletions"], position)
            yield self._state_message()
