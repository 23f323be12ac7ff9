"""queries/ names the stream or column a destination lacks (a deselected one) instead of the database's own error."""

import duckdb
import pytest

import queries


@pytest.fixture
def destination(tmp_path):
    """A DuckDB destination holding every stream and column the shipped SQL reads (no rows)."""
    types = {"disabled": "BIGINT", "has_variants": "BIGINT", "is_stock_item": "BIGINT", "reorder_levels": "JSON",
             "creation": "TIMESTAMP", "end_of_life": "DATE", "transaction_date": "DATE", "_ab_cdc_deleted_at": "TIMESTAMP"}
    con = duckdb.connect(str(tmp_path / "dest.duckdb"))
    for table, columns in queries.VIEWS_NEEDS.items():
        kinds = [types.get(c, "DOUBLE" if c.endswith(("qty", "rate", "total")) else "VARCHAR") for c in columns]
        con.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {k}' for c, k in zip(columns, kinds))})")
    yield con
    con.close()


def test_with_everything_synced_the_queries_run(destination):
    assert queries.reorder_requests(destination, "duckdb") == []
    queries.create_views(destination, "duckdb")
    assert queries.view_rows(destination, "sales_orders", "duckdb") == []


def test_a_deselected_column_is_named_with_its_stream(destination):
    destination.execute("ALTER TABLE item DROP COLUMN reorder_levels")
    with pytest.raises(queries.MissingInDestination) as raised:
        queries.reorder_requests(destination, "duckdb")
    assert "column reorder_levels of stream item" in str(raised.value) and "Select it" in str(raised.value)
    assert "Binder" not in str(raised.value)


def test_a_stream_not_synced_is_named(destination):
    destination.execute("DROP TABLE sales_order")
    destination.execute("ALTER TABLE supplier DROP COLUMN payment_terms")
    queries.reorder_requests(destination, "duckdb")  # reorder.sql does not read them
    with pytest.raises(queries.MissingInDestination) as raised:
        queries.create_views(destination, "duckdb")
    assert "stream sales_order, column payment_terms of stream supplier" in str(raised.value)
