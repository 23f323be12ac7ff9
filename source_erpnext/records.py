"""What a page of rows becomes on its way out: Time values in ISO form, leavers as deletion records, record messages,
and a progress line now and then."""

import logging
import time
from typing import Any, Iterator, List, Mapping, Optional

from airbyte_cdk.models import AirbyteMessage, AirbyteRecordMessage
from airbyte_cdk.models import Type as MessageType

from .deletions import deletion_record
from .keyset import parse_modified
from .schemas import iso_time
from .spec import format_datetime

PROGRESS_SECONDS = 10


def fix_times(rows: List[dict], time_fields: Mapping[str, List[str]]) -> None:
    """Time fields (record field -> its Time columns, "" for the record's own) in the form the schema's `time` wants."""
    for table, fields in time_fields.items():
        for row in [child for parent in rows for child in parent.get(table) or []] if table else rows:
            for field in fields:
                if row.get(field):
                    row[field] = iso_time(row[field])


def leavers_as_deletions(rows: List[dict], required: Mapping[str, Any], replicated_until: Optional[str]) -> List[dict]:
    """Rows that no longer hold `required` (disabled, cancelled) as deletion records, if they may have been replicated;
    those created after the saved position never were, and are left out."""
    kept = []
    for row in rows:
        if all(row.get(f) == v for f, v in required.items()):
            kept.append(row)
        elif not row.get("creation") or format_datetime(parse_modified(row["creation"])) <= (replicated_until or ""):
            kept.append(deletion_record(row["name"], row["modified"]))
    return kept


def record_messages(stream: str, rows: List[dict]) -> Iterator[AirbyteMessage]:
    # Records leave as messages: the CDK would otherwise copy each dict and look up a transform for it.
    emitted_at = int(time.time() * 1000)
    for row in rows:
        yield AirbyteMessage(type=MessageType.RECORD, record=AirbyteRecordMessage(stream=stream, data=row, emitted_at=emitted_at))


class Progress:
    """Records and pages so far, logged at most every PROGRESS_SECONDS: a long read shows it is alive without flooding."""

    def __init__(self, stream: str, logger: logging.Logger) -> None:
        self._stream, self._logger = stream, logger
        self.records = self.pages = 0
        self._logged_at = time.monotonic()

    def add(self, records: int) -> None:
        self.records += records
        self.pages += 1 if records else 0
        if time.monotonic() - self._logged_at >= PROGRESS_SECONDS:
            self._logged_at = time.monotonic()
            self._logger.info(f"{self._stream}: {self.records:,} records in {self.pages:,} pages so far")

    def done(self) -> None:
        self._logger.info(f"{self._stream}: read {self.records:,} records in {self.pages:,} pages")

