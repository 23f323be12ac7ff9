"""What a read is: a list of scans, made here from the stream's key, the config and the state, and executed one after
the other by reader.py. A scan is key ranges over (key, name) with filters; the state is the scans' positions.

The key is the one the DocType's table has an index on (indexes.py): `modified` (Frappe 14/15), or `creation`
(Frappe 16, which indexes `modified` only for DocTypes sorted by it). Over `creation`, reading changes page by page
would scan the table for each page, so changes are found by name in one scan and then read by name.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from .doctypes import OpenDocuments
from .keyset import CREATION, MODIFIED
from .spec import ErpnextConfig

Work = Dict[str, Any]  # {"from": position, "to": exclusive bound on the key or None}: one key range


@dataclass(frozen=True)
class Scan:
    ranges: List[Work]
    key: str = MODIFIED
    filters: List[list] = field(default_factory=list)  # besides the config's
    moves_position: bool = True  # its pages advance the incremental position on `modified` (a watermark)
    splittable: bool = True  # a large single range may be read in concurrent key ranges
    once: bool = False  # leaves out documents the read has emitted already
    by_name: bool = False  # names and `modified` over `modified` first (one table scan a NAMES_PAGE), then pages by name


def since(config: ErpnextConfig, key: str) -> List[list]:
    """The start date, on a scan keyed on `creation`: a filter (the start date bounds `modified`)."""
    return [["modified", ">=", config.start_date]] if key == CREATION and config.start_date else []


def incremental_plan(start: Dict[str, Any], config: ErpnextConfig, open_docs: Optional[OpenDocuments], has_position: bool,
                     key: str = MODIFIED, first_sync: Optional[List[Work]] = None) -> List[Scan]:
    """Changes since `start` (a position on `modified`). Before them: on a first sync keyed on `creation`, every
    document (`first_sync`: the work left); after a first sync, the open documents modified up to `start` (changes
    ERPNext makes to them without moving `modified`), read again in full every sync."""
    scans = []
    if first_sync:
        scans.append(Scan(first_sync, CREATION, since(config, CREATION), moves_position=False))
    elif open_docs and config.refresh_open_documents and has_position and start.get("modified"):
        up_to_start = [["modified", "<=", start["modified"]]]  # later ones are read as changes
        origin = {"modified": config.start_date} if config.start_date and key == MODIFIED else {}
        scans.append(Scan([{"from": origin, "to": None}], key, open_docs.filters + up_to_start + since(config, key), moves_position=False, splittable=False))
    scans.append(Scan([{"from": start, "to": None}], by_name=key == CREATION))
    return scans


def full_refresh_plan(saved_work: Optional[List[Work]], start: Dict[str, Any], newest: Callable[[], Optional[str]], config: ErpnextConfig, key: str = MODIFIED) -> List[Scan]:
    """Every document once.

    Over `creation`, one scan in ranges: a document keeps its place in that order when it is edited, so no range meets
    it twice. Over `modified`: those modified before the newest `modified` at the start of the read (`cutoff`), in
    ranges; then those modified from it on (created or edited while the read went on), less any emitted already. A
    document edited during the read moves to `modified` >= cutoff, out of every range, so the ranges never meet one
    twice; only the last scan can, and it checks. Saved work (a resumed attempt) is the ranges left and that last scan.
    """
    if key == CREATION:
        return [Scan(saved_work or [{"from": {}, "to": None}], CREATION, since(config, CREATION))]
    if saved_work:
        *ranges, final = saved_work
    else:
        cutoff = newest()
        if cutoff is None or (start.get("modified") and cutoff < start["modified"]):
            return [Scan([{"from": start, "to": None}], once=True)]
        ranges, final = [{"from": start, "to": cutoff}], {"from": {"modified": cutoff}, "to": None}
    scans = [Scan(ranges)] if ranges else []
    return scans + [Scan([final], splittable=False, once=True)]


def remaining(scans: List[Scan], after: int) -> List[Work]:
    """The ranges of the scans after index `after`: what a resumed full refresh reads once the current scan is done."""
    return [work for scan in scans[after + 1:] for work in scan.ranges]
