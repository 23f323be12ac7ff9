"""One stream class for every DocType: it makes the read's plan (plan.py), has reader.py execute it over the
DocType's list requests (lister.py), and turns the pages into records and state messages (records.py, state.py)."""

from datetime import timedelta
from functools import cached_property
from typing import Any, Dict, Iterable, List, Mapping, MutableMapping, Optional

import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.http import HttpStream

from .children import ChildRows
from .deletions import DELETED_DOCUMENT, DeletionLog
from .doctypes import DocType, open_documents, with_meta
from .emitted import EmittedNames
from .http import RequestLimiter, http_client, resource_path
from .indexes import deleted_document_key, has_modified_index, no_index_note, read_key
from .keyset import CREATION, MODIFIED, later_position, parse_modified, saved_position
from .lister import DocTypeLister, rows_of
from .plan import full_refresh_plan, incremental_plan, remaining
from .reader import scan_pages
from .records import Progress, fix_times, leavers_as_deletions, record_messages
from .schemas import DocTypeMeta, load_meta, stream_schema
from .selection import Selection, selection
from .site_time import AskedOnce, lookback_start
from .spec import ErpnextConfig, format_datetime
from .state import FULL_REFRESH_COMPLETE, state_message, valid_state

NOT_ASKED = AskedOnce(lambda: None)


class DocTypeStream(HttpStream):
    primary_key = "name"
    cursor_field = "modified"
    state_checkpoint_interval = None  # a state message follows every page: see _emit

    def __init__(self, doctype: DocType, config: ErpnextConfig, limiter: RequestLimiter, standard: bool = True,
                 site_zone: AskedOnce = NOT_ASKED, frappe_major: AskedOnce = NOT_ASKED):
        self._doctype, self._config, self._limiter, self._standard = doctype, config, limiter, standard
        self._site_zone, self._frappe_major = site_zone, frappe_major  # asked of the site once per run
        self._saved: Any = None  # the state handed in, read once the stream's keys are known
        self._state: Dict[str, Any] = {}
        self._incremental = self._catch_leavers = False
        self._selection: Optional[Selection] = None
        super().__init__()
        self.lister = DocTypeLister(doctype.stream, doctype.doctype, config, limiter, self.logger, self.list_filters)
        self._http_client = self.lister.client  # Frappe's auth, error mapping and backoff (http.py)

    name = property(lambda self: self._doctype.stream)
    doctype = property(lambda self: self._doctype.doctype)
    config = property(lambda self: self._config)
    url_base = property(lambda self: self._config.base_url + "/")

    def path(self, **kwargs: Any) -> str:
        return resource_path(self.doctype)

    @cached_property
    def meta(self) -> DocTypeMeta:
        # Read once per run: the CDK asks for the schema once per record.
        return load_meta(self.lister.client, self._config, self.doctype, self.name, self._doctype.child_tables, self.logger)

    @cached_property
    def table(self) -> DocType:
        """The stream's DocType row completed from its metadata: every child table, and filters (doctypes.with_meta)."""
        return with_meta(self._doctype, self.meta, self._standard)

    @cached_property
    def key(self) -> str:
        """The key its pages go over: the one the DocType's table has an index on (indexes.py)."""
        client = http_client(self.name, self._config, self.logger, "Property Setter", self._limiter)
        indexed = has_modified_index(client, self._config, self.doctype, self.meta.sort_field, self._frappe_major.get())
        if not indexed:
            self.logger.info(no_index_note(self.doctype, indexed))
        return read_key(indexed)

    @cached_property
    def children(self) -> ChildRows:
        tables = self.table.child_tables
        fields = self._selection.child_fields if self._selection else {fieldname: ["*"] for fieldname in tables}
        get_children = lambda child, params: self.lister.get_list(child, params, self.lister.children_client)  # noqa: E731
        side_by_side = self._config.max_concurrency > 1
        return ChildRows(self.doctype, {f: tables[f] for f in fields}, fields, get_children, self.lister.url_of, self._config.page_size, self.lister.probe, side_by_side)

    @cached_property
    def deletion_log(self) -> DeletionLog:
        key = deleted_document_key(self._frappe_major.get())
        return DeletionLog(self.doctype, self.lister.get_list, self._config.page_size, self.lister.url_of, key)

    def get_json_schema(self) -> Mapping[str, Any]:
        return self._schema

    @cached_property
    def _schema(self) -> Mapping[str, Any]:
        return stream_schema(self.meta)

    @property
    def state(self) -> MutableMapping[str, Any]:
        return dict(self._state)

    @state.setter
    def state(self, value: Optional[Mapping[str, Any]]) -> None:
        self._saved = value

    def _start_position(self, saved: Optional[Mapping[str, str]], key: str = MODIFIED) -> Dict[str, Any]:
        """Where a read starts: the saved position (minus the lookback window, widened across a fall-back of the
        site's clocks), else the start date."""
        if self._incremental and saved and saved.get(key):
            position = parse_modified(saved[key])
            start = lookback_start(position, timedelta(minutes=self._config.lookback_window_minutes), self._site_zone.get())
            return saved_position(saved, key) if start >= position else {key: format_datetime(start)}
        return {"modified": self._config.start_date} if self._config.start_date and key == MODIFIED else {}

    # -- reading -----------------------------------------------------------------------------------

    def read_records(self, sync_mode: SyncMode, cursor_field: Optional[List[str]] = None, stream_slice: Optional[Mapping[str, Any]] = None,
                     stream_state: Optional[Mapping[str, Any]] = None) -> Iterable[Any]:
        self._incremental = sync_mode == SyncMode.incremental
        self._state = valid_state(self._saved, self.name, self.key, self.deletion_log.key, self.logger)
        # Once the destination holds the stream, a document that stops matching the config (disabled, cancelled)
        # must reach it too: such reads ask without those conditions and turn leavers into deletion records.
        self._catch_leavers = self._incremental and bool(self._state.get("modified")) and bool(self.table.status(self._config))
        self._replicated_until = self._state.get("modified")  # documents created later cannot be in the destination
        self._progress = Progress(self.name, self.logger)
        self._selection = selection(self.configured_json_schema, self.meta, self.table)  # the catalog's selected fields
        self.lister.fields = self._selection.fields if self._selection else None
        if self.table.child_tables:
            self.lister.attach_children = self.children.attach
            self.lister.page_slots = self._limiter.page_slots(len(self.children.tables))
        if self._incremental:
            yield from self._read_incremental()
        elif not self._state.get(FULL_REFRESH_COMPLETE):  # else an earlier attempt of this sync read it all
            yield from self._read_full_refresh()
        self._progress.done()

    def _read_incremental(self) -> Iterable[Any]:
        for key in (FULL_REFRESH_COMPLETE, "full_refresh", "key"):  # a full refresh's progress is no position
            self._state.pop(key, None)
        deletions_from = self._deletions_start() if self._config.sync_deletions else None
        first = self._state.get("first_sync")
        if self.key == CREATION and not self._state.get("modified") and not first:
            # A first sync over `creation`: changes made while it runs are read after it, from the newest `modified` now.
            newest = self.lister.newest_modified()
            first = self._state["first_sync"] = {"work": [{"from": {}, "to": None}], "modified": newest} if newest else None
        start = self._start_position({"modified": first["modified"]} if first else self._state)
        plan = incremental_plan(start, self._config, open_documents(self.doctype), bool(self._state.get("modified")), self.key, first and first["work"])
        recent: Dict[str, str] = {}  # versions a first sync read that its pass over changes meets again: emitted once
        for scan in plan:
            for rows, watermark, left in scan_pages(self.lister, scan):
                if first and scan is plan[0]:
                    first["work"] = left
                    recent.update((r["name"], r["modified"]) for r in rows if start.get("modified") and format_datetime(parse_modified(r["modified"])) >= start["modified"])
                elif recent:
                    rows = [r for r in rows if recent.get(r["name"]) != r["modified"]]
                yield from self._emit(rows, watermark if scan.moves_position else None)
            if first and scan is plan[0]:
                self._state.pop("first_sync")
                self._state["modified"] = first["modified"]
        if deletions_from is not None:
            yield from self._read_deletions(deletions_from)

    def _read_full_refresh(self) -> Iterable[Any]:
        # Resumable: the state is the work left (where each range goes on), which the platform hands to the next
        # attempt of the same sync only.
        plan = full_refresh_plan(self._state.get("full_refresh"), self._start_position(None), self.lister.newest_modified, self._config, self.key)
        emitted = EmittedNames()  # over `modified`, a document edited during the read is emitted once
        for i, scan in enumerate(plan):
            for rows, _, left in scan_pages(self.lister, scan):
                if scan.once:
                    rows = emitted.first_time(rows)
                elif self.key == MODIFIED:
                    emitted.add(rows)
                self._state = {"full_refresh": left + remaining(plan, i), "key": self.key}
                yield from self._emit(rows, None)
        self._state = {FULL_REFRESH_COMPLETE: True}  # the CDK emits it as the stream's last state

    def list_filters(self) -> List[list]:
        return self.table.filters(self._config, with_status=not self._catch_leavers)

    def _emit(self, rows: List[dict], position: Optional[Mapping[str, str]]) -> Iterable[Any]:
        """The rows as records, then a state message (incremental: `position` is the new watermark)."""
        self._progress.add(len(rows))
        fix_times(rows, self._time_fields)
        if self._catch_leavers:
            rows = leavers_as_deletions(rows, self.table.status(self._config), self._replicated_until)
        if self._selection:  # what the connector asked for itself stays out of the records
            keep = self._selection.keep
            rows = [{k: v for k, v in row.items() if k in keep} for row in rows]
        yield from record_messages(self.name, rows)
        if self._incremental and position:
            moved = later_position(self._state, position)
            self._state.pop("name", None)
            self._state.update(moved)
        yield state_message(self.name, self._state)  # after every page, even when a range ahead of the watermark delivered it

    @cached_property
    def _time_fields(self) -> Dict[str, List[str]]:
        return self.meta.time_fields()

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Any]:
        return rows_of(response, self.doctype)

    def next_page_token(self, response: requests.Response) -> Optional[Mapping[str, Any]]:
        return None  # keyset paging needs the page's rows, not the response: see lister.py

    def check_deletions_permission(self) -> None:
        self.lister.check_read(DELETED_DOCUMENT)

    def check_read_permission(self) -> None:
        """An additional DocType's metadata is read first: a child table is explained as such (Frappe refuses to list it
        on its own)."""
        if not self._standard:
            self.table  # noqa: B018 (raises the config error that explains a child table)
        self.lister.check_read(self.doctype)

    # -- deletions ---------------------------------------------------------------------------------

    def _deletions_start(self) -> Dict[str, Any]:
        """After the saved deletion position; on a first sync, after the newest deletion so far (asked before reading
        the records, so documents deleted while they are read are still caught)."""
        key = self.deletion_log.key
        if "deletions" not in self._state and self._state.get("modified"):  # deletions just turned on: from where the records were read up to
            self._state["deletions"] = {key: self._state["modified"]}
        if "deletions" in self._state:
            return self._start_position(self._state["deletions"], key)
        self._state["deletions"] = self.deletion_log.newest_position()  # {}: from the first deletion on
        return dict(self._state["deletions"])

    def _read_deletions(self, position: Dict[str, Any]) -> Iterable[Any]:
        """Deleted Document rows for this DocType become records with _ab_cdc_deleted_at, for deduped destinations."""
        for records, position in self.deletion_log.pages(position):
            yield from record_messages(self.name, records)
            self._state["deletions"] = later_position(self._state["deletions"], position, self.deletion_log.key)
            yield state_message(self.name, self._state)
