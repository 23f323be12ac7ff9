"""Reading one large DocType concurrently: split it into `modified` ranges, page each by keyset, merge pages as they arrive.

The state stays resumable: it is a watermark that only covers ranges finished in order, plus the progress of the
first unfinished one, so everything before it has been emitted.
"""

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

PAGES_PER_RANGE = 2  # a range smaller than this many pages is not worth a thread


@dataclass
class Ranges:
    starts: List[Dict[str, Any]]  # where each range starts (the first is the read's own start)
    ends: List[Optional[str]]  # exclusive `modified` bound of each range; None for the last, open one
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


def modified_ranges(stream, start: Dict[str, Any]) -> Optional[Ranges]:
    """Up to max_concurrency ranges of about equal size, bounded by `modified` values the site reports."""
    config = stream.config
    filters = stream.table.filters(config) + ([["modified", ">=", start["modified"]]] if start.get("modified") else [])
    count = stream.count(filters)
    parts = min(config.max_concurrency, count // (PAGES_PER_RANGE * config.page_size))
    if parts < 2:
        return None
    bounds = {stream.modified_at_offset(filters, count * i // parts) for i in range(1, parts)}
    bounds = sorted(b for b in bounds if b and (not start.get("modified") or b > start["modified"]))
    if not bounds:
        return None
    return Ranges(starts=[dict(start)] + [{"modified": b} for b in bounds], ends=bounds + [None])


def read_concurrently(stream, ranges: Ranges) -> Iterator[Tuple[List[dict], Optional[Dict[str, Any]]]]:
    """(page, watermark) pairs as the range readers deliver them; a reader's error is raised here."""
    from .streams import position_of

    pages: "queue.Queue[Tuple[int, Any]]" = queue.Queue(maxsize=2 * len(ranges.starts))  # bounded: memory stays flat
    stop = threading.Event()

    def put(item: Tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def read_range(i: int) -> None:
        try:
            for rows in stream.pages(ranges.starts[i], ranges.ends[i]):
                if not put((i, rows)):
                    return
            put((i, None))
        except BaseException as error:  # handed to the consuming thread, which raises it
            put((i, error))

    readers = [threading.Thread(target=read_range, args=(i,), daemon=True, name=f"{stream.name}-range-{i}") for i in range(len(ranges.starts))]
    for reader in readers:
        reader.start()
    try:
        remaining = len(readers)
        while remaining:
            i, item = pages.get()
            if isinstance(item, BaseException):
                raise item
            if item is None:
                ranges.done[i] = True
                remaining -= 1
                yield [], ranges.watermark()
            else:
                ranges.last[i] = position_of(item[-1])
                yield item, ranges.watermark()
    finally:
        stop.set()
