"""The concurrent range reader: a failing range fails the read, and leaves nothing behind that blocks the next one."""

import threading

import pytest

from source_erpnext.concurrency import Ranges, read_concurrently


class FakeStream:
    name = "fake"

    def __init__(self, fail_in_range="no range"):
        self.fail_in_range = fail_in_range

    def pages(self, start, before=None):
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
