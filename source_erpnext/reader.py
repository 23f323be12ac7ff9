"""Executes a scan of plan.py: its pages of records, each with the watermark (a position on the scan's key before
which every record has been emitted) and the work left (what a resumed read goes on with)."""

from contextlib import closing
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .concurrency import Ranges, key_ranges, open_work, read_concurrently
from .keyset import MODIFIED, PageSizeProbe, position_of
from .plan import Scan

NAMES_PAGE = 10_000  # names a by-name scan asks for at once: over a key without an index, each request scans the table
Page = Tuple[List[dict], Optional[Dict[str, Any]], List[Dict[str, Any]]]


def scan_pages(stream: Any, scan: Scan) -> Iterator[Page]:
    if scan.by_name:
        yield from _pages_by_name(stream, scan)
        return
    work, extra, key = scan.ranges, scan.filters, scan.key
    ranges = Ranges(starts=[w["from"] for w in work], ends=[w["to"] for w in work], key=key) if len(work) > 1 else None
    if ranges is None:
        before = work[0]["to"]
        pages = stream.pages(work[0]["from"], before, extra, key)
        try:
            first = next(pages, None)
            if not first:
                return
            yield first, position_of(first[-1], key), open_work(position_of(first[-1], key), before)
            if scan.splittable and stream.config.max_concurrency > 1 and len(first) >= stream.config.page_size:
                # The rest of a large DocType is read in concurrent key ranges. The first page's slot is freed first.
                pages.close()
                ranges = key_ranges(stream, position_of(first[-1], key), before, extra, key)
                pages = pages if ranges else stream.pages(position_of(first[-1], key), before, extra, key)
            if not ranges:
                for rows in pages:
                    yield rows, position_of(rows[-1], key), open_work(position_of(rows[-1], key), before)
                return
        finally:
            pages.close()  # a failed read frees its page slot now, not when its traceback is collected
    with closing(read_concurrently(stream, ranges, extra)) as range_pages:
        for rows, watermark in range_pages:
            yield rows, watermark, ranges.work_left()
    if ranges.ends[-1] is not None or key != MODIFIED:
        return  # (over `creation`, an edited document keeps its place: no range can have missed it)
    # A final pass: documents edited while they were read moved past the open last range's end.
    pages = stream.pages(ranges.tail(), None, extra, key)
    try:
        for rows in pages:
            yield rows, position_of(rows[-1]), open_work(position_of(rows[-1]))
    finally:
        pages.close()


def _pages_by_name(stream: Any, scan: Scan) -> Iterator[Page]:
    """Documents modified after the scan's start: their names and `modified` in (modified, name) order, NAMES_PAGE at a
    time, then the documents by name. The watermark moves once every document of a names page is out."""
    position, probe = scan.ranges[0]["from"], PageSizeProbe()
    while True:
        names = stream.names_page(position, scan.filters, NAMES_PAGE)
        for rows in stream.documents_named([row["name"] for row in names]):
            yield rows, None, open_work(position)
        if names:
            position = position_of(names[-1])
            yield [], position, open_work(position)
        if probe.is_last_page(len(names), NAMES_PAGE):
            return
