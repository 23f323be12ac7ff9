"""Concurrency, bounded by `max_concurrency` requests in flight:

- streams are read side by side, each in its own thread;
- a large DocType is split into key ranges (`modified` or `creation`, plan.py), each paged by keyset in its own thread. Its state stays
  resumable: a watermark that only covers ranges finished in order, plus the progress of the first unfinished one;
- the child tables of a page are read side by side (children.py), so fewer pages are decoded at once.
"""

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from airbyte_cdk.models import AirbyteMessage, ConfiguredAirbyteStream
from airbyte_cdk.models import Type as MessageType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .keyset import MODIFIED, parse_modified, position_of, saved_position
from .spec import format_datetime

PAGES_PER_RANGE = 2  # a range smaller than this many pages is not worth a thread
DONE = object()  # what a finished producer hands over
MAX_BATCH = 500  # messages a stream's thread hands to the output at once (at most a page of records)


@dataclass
class Ranges:
    starts: List[Dict[str, Any]]  # where each range starts (the first is the read's own start)
    ends: List[Optional[str]]  # exclusive bound on the key of each range; None for the last, open one
    key: str = MODIFIED
    last: List[Optional[Dict[str, str]]] = field(default_factory=list)  # last position read in each range
    done: List[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.last = [None] * len(self.starts)
        self.done = [False] * len(self.starts)

    def watermark(self) -> Optional[Dict[str, Any]]:
        """A position before which every record has been emitted (None: no progress yet)."""
        for i in range(len(self.starts)):
            if not self.done[i] or i == len(self.starts) - 1:
                return self.last[i] or (self.starts[i] if i else None)
        return None

    def tail(self) -> Dict[str, Any]:
        """Where the open last range ended: a final pass from here catches documents edited during the read."""
        return self.last[-1] or self.starts[-1]

    def work_left(self) -> List[Dict[str, Any]]:
        """The unfinished bounded ranges, each from its last position, and an open last range (with its final pass)."""
        work = [{"from": self.last[i] or self.starts[i], "to": self.ends[i]} for i in range(len(self.starts)) if not self.done[i] and self.ends[i] is not None]
        return work + (open_work(self.tail()) if self.ends[-1] is None else [])


def open_work(position: Dict[str, Any], before: Optional[str] = None) -> List[Dict[str, Any]]:
    """The work left of a read that goes on after `position` up to `before` (None: to the end)."""
    return [{"from": dict(position), "to": before}]


def saved_work(value: Any, key: str = MODIFIED) -> List[Dict[str, Any]]:
    """Work left read back from a saved state (ValueError/TypeError/KeyError when it is not one this connector wrote)."""
    work = [{"from": saved_position(w["from"], key) if w["from"] else {}, "to": format_datetime(parse_modified(w["to"])) if w["to"] else None} for w in value]
    if not work or work[-1]["to"] is not None or any(w["to"] is None for w in work[:-1]):
        raise ValueError("the last range of the work left must be the open one")
    return work


def fan_in(producers: List[Callable[[Callable[[Any], bool]], None]], capacity: int) -> Iterator[Tuple[int, Any]]:
    """Run each producer in a thread; yield (producer index, item) as they come, then (index, DONE) when one ends.

    A producer's exception is raised in the consuming thread. The queue is bounded, so memory stays flat; when the
    consumer stops early, producers are released and end.
    """
    items: "queue.Queue[Tuple[int, Any]]" = queue.Queue(maxsize=capacity)
    stop = threading.Event()

    def put(item: Tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def run(i: int) -> None:
        try:
            producers[i](lambda item: put((i, item)))
            put((i, DONE))
        except BaseException as error:  # handed to the consuming thread, which raises it
            put((i, error))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(producers))]
    for thread in threads:
        thread.start()
    try:
        remaining = len(threads)
        while remaining:
            i, item = items.get()
            if isinstance(item, BaseException):
                raise item
            remaining -= item is DONE
            yield i, item
    finally:
        stop.set()


def map_concurrently(function: Callable[[Any], Any], items: List[Any]) -> List[Any]:
    """function(item) for every item, each in a thread of its own; the results in the items' order."""
    if len(items) < 2:
        return [function(item) for item in items]
    results: List[Any] = [None] * len(items)

    def producer(i: int) -> Callable[[Callable[[Any], bool]], None]:
        def run(put: Callable[[Any], bool]) -> None:
            results[i] = function(items[i])

        return run

    for _ in fan_in([producer(i) for i in range(len(items))], capacity=len(items) + 1):
        pass
    return results


def key_ranges(stream, start: Dict[str, Any], before: Optional[str] = None, extra: Optional[list] = None, key: str = MODIFIED) -> Optional[Ranges]:
    """Up to max_concurrency ranges of about equal size, bounded by values of the key the site reports; the last one
    ends at `before` (None: open)."""
    config = stream.config
    filters = stream.list_filters() + list(extra or []) + ([[key, ">=", start[key]]] if start.get(key) else [])
    filters += [[key, "<", before]] if before else []
    count = stream.count(filters)
    parts = min(config.max_concurrency, count // (PAGES_PER_RANGE * config.page_size))
    if parts < 2:
        return None
    bounds = {stream.value_at_offset(filters, count * i // parts, key) for i in range(1, parts)}
    bounds = sorted(b for b in bounds if b and (not start.get(key) or b > start[key]) and (not before or b < before))
    if not bounds:
        return None
    return Ranges(starts=[dict(start)] + [{key: b} for b in bounds], ends=bounds + [before], key=key)


def read_concurrently(stream, ranges: Ranges, extra: Optional[list] = None) -> Iterator[Tuple[List[dict], Optional[Dict[str, Any]]]]:
    """(page, watermark) pairs as the range readers deliver them. A reader holds at most one page while it waits for
    the consumer (the queue holds one more), so memory is bounded by the number of ranges, not the stream's size."""
    def reader(i: int) -> Callable[[Callable[[Any], bool]], None]:
        def read_range(put: Callable[[Any], bool]) -> None:
            for rows in stream.pages(ranges.starts[i], ranges.ends[i], extra, ranges.key):
                if not put(rows):
                    return

        return read_range

    for i, rows in fan_in([reader(i) for i in range(len(ranges.starts))], capacity=1):
        if rows is DONE:
            ranges.done[i] = True
            yield [], ranges.watermark()
        else:
            ranges.last[i] = position_of(rows[-1], ranges.key)
            yield rows, ranges.watermark()


def read_streams_concurrently(read_one: Callable[[ConfiguredAirbyteStream], Iterator[AirbyteMessage]], streams: List[ConfiguredAirbyteStream], workers: int) -> Iterator[AirbyteMessage]:
    """Every stream's messages, streams read side by side by `workers` threads; failures are raised at the end, together."""
    pending = list(streams)
    lock = threading.Lock()
    failures: List[AirbyteTracedException] = []

    def worker(put: Callable[[Any], bool]) -> None:
        while True:
            with lock:
                if not pending:
                    return
                stream = pending.pop(0)
            # Messages cross threads in batches (a page of records and its state), so the hand-over queue can hold a
            # single item without a thread switch per record.
            batch: List[AirbyteMessage] = []
            try:
                for message in read_one(stream):
                    batch.append(message)
                    if message.type != MessageType.RECORD or len(batch) >= MAX_BATCH:
                        if not put(batch):
                            return
                        batch = []
            except AirbyteTracedException as failure:  # its error TRACE message has been emitted already
                with lock:
                    failures.append(failure.with_traceback(None))  # only its message is needed: let its frames go
            if batch and not put(batch):
                return

    for _, batch in fan_in([worker] * min(workers, len(streams)), capacity=1):
        if batch is not DONE:
            yield from batch
    if failures:
        message = " ".join(f.message or "" for f in failures)
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=failures[0].failure_type)
