"""What a read is: a list of scans, made here from the stream's table, the config and the state, and executed one after
the other by the stream. A scan is key ranges over (modified, name) with filters; the state is the scans' positions."""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from .doctypes import OpenDocuments
from .spec import ErpnextConfig

Work = Dict[str, Any]  # {"from": position, "to": exclusive `modified` bound or None}: one key range


@dataclass(frozen=True)
class Scan:
    purpose: str
    ranges: List[Work]
    filters: List[list] = field(default_factory=list)  # besides the config's
    moves_position: bool = True  # its pages advance the incremental position (a watermark)
    splittable: bool = True  # a large single range may be read in concurrent `modified` ranges
    once: bool = False  # leaves out documents the read has emitted already


def incremental_plan(start: Dict[str, Any], config: ErpnextConfig, open_docs: Optional[OpenDocuments], has_position: bool) -> List[Scan]:
    """Changes since `start`; after a first sync, first the open documents modified up to `start` (changes ERPNext
    makes to them without moving `modified`), read again in full every sync."""
    scans = []
    if open_docs and config.refresh_open_documents and has_position and start.get("modified"):
        up_to_start = [["modified", "<=", start["modified"]]]  # later ones are read as changes
        origin = {"modified": config.start_date} if config.start_date else {}
        scans.append(Scan("open documents", [{"from": origin, "to": None}], open_docs.filters + up_to_start, moves_position=False, splittable=False))
    scans.append(Scan("changes", [{"from": start, "to": None}]))
    return scans


def full_refresh_plan(saved_work: Optional[List[Work]], start: Dict[str, Any], newest: Callable[[], Optional[str]]) -> List[Scan]:
    """Every document once: those modified before the newest `modified` at the start of the read (`cutoff`), in
    ranges; then those modified from it on (created or edited while the read went on), less any emitted already.

    A document edited during the read moves to `modified` >= cutoff, out of every range, so the ranges never meet one
    twice; only the last scan can, and it checks. Saved work (a resumed attempt) is the ranges left and that last scan.
    """
    if saved_work:
        *ranges, final = saved_work
    else:
        cutoff = newest()
        if cutoff is None or (start.get("modified") and cutoff < start["modified"]):
            return [Scan("documents", [{"from": start, "to": None}], splittable=True, once=True)]
        ranges, final = [{"from": start, "to": cutoff}], {"from": {"modified": cutoff}, "to": None}
    scans = [Scan("documents", ranges)] if ranges else []
    return scans + [Scan("edited during the read", [final], splittable=False, once=True)]


def remaining(scans: List[Scan], after: int) -> List[Work]:
    """The ranges of the scans after index `after`: what a resumed full refresh reads once the current scan is done."""
    return [work for scan in scans[after + 1:] for work in scan.ranges]
