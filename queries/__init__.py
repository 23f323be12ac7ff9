"""The shipped SQL over the tables source-erpnext's streams leave in a destination, and how to run it.

    queries/duckdb/reorder.sql     which items need reordering, as ERPNext's reorder job decides (DuckDB)
    queries/postgres/reorder.sql   the same for PostgreSQL
    queries/<dialect>/views.sql    the seed's data models (inventory_items, sales_orders, suppliers) as views

The SQL lives in those files only; this module reads and runs them. `db` is a DuckDB file path, a
duckdb connection, a SQLAlchemy engine or connection (PyAirbyte's `cache.get_sql_engine()`, DuckDB or
PostgreSQL), or a PostgreSQL URL.
"""

from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
DIALECTS = ("duckdb", "postgres")
COLUMNS = ("item", "item_name", "warehouse", "projected_qty", "reorder_level", "qty_to_request", "request_type")
DELETED = "_ab_cdc_deleted_at"
# The streams (tables) and columns each file reads. They are looked up in the destination before the SQL runs, so that
# a stream or column deselected in Airbyte is named, instead of the database's Binder Error or "does not exist".
REORDER_NEEDS = {
    "item": ("name", "item_name", "variant_of", "creation", "reorder_levels", "has_variants", "disabled",
             "is_stock_item", "end_of_life", DELETED),
    "bin": ("item_code", "warehouse", "projected_qty", "creation", DELETED),
    "warehouse": ("name", "parent_warehouse", "disabled", DELETED),
}
VIEWS_NEEDS = {
    **REORDER_NEEDS,
    "item": REORDER_NEEDS["item"] + ("valuation_rate",),
    "bin": REORDER_NEEDS["bin"] + ("actual_qty",),
    "sales_order": ("name", "customer_name", "grand_total", "status", "transaction_date", DELETED),
    "supplier": ("name", "supplier_name", "country", "payment_terms", "disabled", DELETED),
}


class MissingInDestination(LookupError):
    """The destination lacks a stream or column the SQL reads: the message says what to select in the connection."""


def missing(present: Dict[str, set], needs: Dict[str, Tuple[str, ...]]) -> List[str]:
    """What to select: 'stream bin' for a missing table, 'column reorder_levels of stream item' for a missing column."""
    out = []
    for stream, columns in needs.items():
        if stream not in present:
            out.append(f"stream {stream}")
        else:
            out += [f"column {c} of stream {stream}" for c in columns if c not in present[stream]]
    return out


def sql(name: str, dialect: str) -> str:
    """The text of queries/<dialect>/<name>.sql."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
    return (HERE / dialect / f"{name}.sql").read_text()


def statements(text: str) -> List[str]:
    """The statements of a file, split at semicolons that end a line (the files keep semicolons out of comments)."""
    return [s.strip() for s in text.split(";\n") if s.strip() and not all(
        line.strip().startswith("--") or not line.strip() for line in s.strip().splitlines())]


def _execute(db, texts: List[str], schema: Optional[str] = None) -> List[dict]:
    """Runs the statements in one connection; returns the last one's rows as dicts."""
    if isinstance(db, (str, Path)) and not str(db).startswith(("postgresql", "postgres://")):
        import duckdb

        with duckdb.connect(str(db)) as con:
            return _execute(con, texts, schema)
    if "duckdb" in type(db).__module__ and hasattr(db, "fetchall"):
        rows = []
        if schema:
            db.execute(f'SET schema = "{schema}"')
        for text in texts:
            cur = db.execute(text)
            if cur.description:
                keys = [d[0] for d in cur.description]
                rows = [dict(zip(keys, r)) for r in cur.fetchall()]
        return rows
    import sqlalchemy

    if isinstance(db, str):
        db = sqlalchemy.create_engine(db)
    if isinstance(db, sqlalchemy.engine.Engine):
        with db.begin() as conn:
            return _execute(conn, texts, schema)
    rows = []
    if schema:
        search_path = "SET search_path TO " if db.dialect.name == "postgresql" else "SET schema = "
        db.exec_driver_sql(f'{search_path}"{schema}"')
    for text in texts:
        result = db.exec_driver_sql(text)
        if result.returns_rows:
            rows = [dict(r) for r in result.mappings().all()]
    return rows


def require(db, name: str, dialect: str, needs: Dict[str, Tuple[str, ...]], schema: Optional[str] = None) -> None:
    """Raises MissingInDestination naming each stream and column of `needs` the destination's schema lacks."""
    rows = _execute(db, ["SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"], schema)
    present: Dict[str, set] = {}
    for row in rows:
        present.setdefault(row["table_name"], set()).add(row["column_name"])
    lacking = missing(present, needs)
    if lacking:
        raise MissingInDestination(
            f"queries/{dialect}/{name}.sql reads what the destination{f' schema {schema}' if schema else ''} does not hold: "
            f"{', '.join(lacking)}. Select {'them' if len(lacking) > 1 else 'it'} in the connection's streams (Airbyte: the "
            "connection's Schema tab; PyAirbyte: select_streams), sync, and run the query again."
        )


def reorder_requests(db, dialect: str, schema: Optional[str] = None) -> List[dict]:
    """The rows of reorder.sql, most urgent first: {item, item_name, warehouse, projected_qty, reorder_level,
    qty_to_request, request_type}. MissingInDestination when a stream or column it reads was not synced."""
    require(db, "reorder", dialect, REORDER_NEEDS, schema)
    rows = _execute(db, [sql("reorder", dialect)], schema)
    return [{k: (float(v) if k in ("projected_qty", "reorder_level", "qty_to_request") else v) for k, v in r.items()}
            for r in rows]


def create_views(db, dialect: str, schema: Optional[str] = None) -> None:
    """Creates reorder_requests (reorder.sql as a view) and the views of views.sql in the destination's schema
    (MissingInDestination when a stream or column they read was not synced)."""
    require(db, "views", dialect, VIEWS_NEEDS, schema)
    reorder = sql("reorder", dialect).rstrip().rstrip(";")
    _execute(db, [f"CREATE OR REPLACE VIEW reorder_requests AS\n{reorder}", *statements(sql("views", dialect))], schema)


def view_rows(db, view: str, dialect: str, schema: Optional[str] = None) -> List[dict]:
    """Every row of one of the views (created with create_views)."""
    if view not in ("reorder_requests", "inventory_items", "sales_orders", "suppliers"):
        raise ValueError(f"no view named {view!r}")
    return _execute(db, [f"SELECT * FROM {view}"], schema)
