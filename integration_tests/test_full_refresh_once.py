"""A full refresh emits each document once whatever is edited while it reads (an Overwrite destination then holds one
row per document): the ranges end where the read started, and the final pass, which meets the documents edited
since, leaves out those the read emitted already."""

import collections
from datetime import datetime

import pytest
from airbyte_cdk.models import SyncMode

from integration_tests.test_sync import config_for, live, sync


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_full_refresh_with_edits_during_the_read_emits_no_document_twice(make_erpnext_server, concurrency):
    srv = make_erpnext_server(items=1200, seed=31)
    before = {d: {r["name"]: r["modified"] for r in srv.records(d)} for d in ("Item", "Sales Order")}
    # Every 4th request edits the oldest document not edited yet (one the read has emitted already: it reads in
    # `modified` order), and the server's own mutations edit and delete at random.
    random_mutation, oldest = srv._mutate, {d: sorted(before[d], key=before[d].get) for d in before}

    def mutate(n):
        random_mutation(n)
        if n % 4 == 0:
            doctype = ("Item", "Sales Order")[n // 4 % 2]
            name = oldest[doctype].pop(0)
            if name in {r["name"] for r in srv.records(doctype)}:
                srv.edit(doctype, name)

    srv._mutate, srv.mutate_every = mutate, 5
    output = sync(config_for(srv, page_size=50, max_concurrency=concurrency), ["item", "sales_order"], SyncMode.full_refresh)
    srv._mutate, srv.mutate_every = random_mutation, None

    for stream, doctype in (("item", "Item"), ("sales_order", "Sales Order")):
        emitted = [m.record.data for m in output.records if m.record.stream == stream]
        counts = collections.Counter(r["name"] for r in emitted)
        assert not [n for n, c in counts.items() if c > 1], f"{stream}: documents emitted twice"
        held = live(srv, doctype)
        assert set(held) <= set(counts), f"{stream}: documents missing"
        edited = {n for n, r in held.items() if r["modified"] != before[doctype][n]}
        # The edits happened during the read, some to documents emitted before them (their record holds the old time).
        assert edited and any(r["name"] in edited and at(r["modified"]) == at(before[doctype][r["name"]]) for r in emitted)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("T", " "))
