"""Concurrent reading: a failing range or stream fails its read, and leaves nothing behind that blocks the others."""

import threading

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.models.scenario import ExpectedOutcome

from source_erpnext import SourceErpnext
from source_erpnext.concurrency import Ranges, read_concurrently

from .conftest import BASE_URL, CONFIG


class FakeStream:
    name = "fake"

    def __init__(self, fail_in_range="no range"):
        self.fail_in_range = fail_in_range

    def pages(self, start, before=None, extra=None, key="modified"):
        if before == self.fail_in_range:
            raise RuntimeError("the site gave up")
        yield [{"name": f"{start.get('modified')}-1", "modified": "2024-01-01 00:00:00"}]


def ranges():
    return Ranges(starts=[{}, {"modified": "2024-02-01 00:00:00"}], ends=["2024-02-01 00:00:00", None])


def test_a_failing_range_fails_the_read_and_the_next_read_completes():
    with pytest.raises(RuntimeError):
        list(read_concurrently(FakeStream(fail_in_range="2024-02-01 00:00:00"), ranges()))

    done = []
    reader = threading.Thread(target=lambda: done.append(list(read_concurrently(FakeStream(), ranges()))), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert done, "the second read hung"
    assert sum(len(rows) for rows, _ in done[0]) == 2


def test_streams_that_fail_after_their_first_page_do_not_keep_the_others_waiting(no_metadata):
    """Each stream fails after its first page (the count for its ranges is refused). At max_concurrency 2, a failed
    stream that kept its page slot would leave the third stream waiting forever."""
    no_metadata.get(f"{BASE_URL}/api/method/frappe.client.get_count", status_code=417, json={"exc_type": "ValidationError"})
    streams = {"supplier": "Supplier", "customer": "Customer", "warehouse": "Warehouse"}
    builder = CatalogBuilder()
    for stream, doctype in streams.items():
        rows = [{"name": f"{doctype}-{i}", "modified": f"2024-01-0{i} 00:00:00", "disabled": 0} for i in (1, 2)]
        no_metadata.get(f"{BASE_URL}/api/resource/{doctype}", json={"data": rows})
        builder = builder.with_stream(stream, SyncMode.full_refresh)
    config = {**CONFIG, "page_size": 2, "max_concurrency": 2}

    outputs = []
    reader = threading.Thread(target=lambda: outputs.append(read(SourceErpnext(), config, builder.build(), expected_outcome=ExpectedOutcome.ALLOW_ANY)), daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert outputs, "the read hung"
    failed = {error.trace.error.stream_descriptor.name for error in outputs[0].errors if error.trace.error.stream_descriptor}
    assert failed == set(streams)
    assert {message.record.stream for message in outputs[0].records} == set(streams)  # each read its first page
