-- The seed's three data models as views over the tables source-erpnext leaves in PostgreSQL (run with the
-- destination's schema on the search_path), for an app that reads them. Needs the reorder_requests view (reorder.sql as a view; queries.create_views creates it first).
-- Live rows only: a row with _ab_cdc_deleted_at set is a document the site no longer has.
-- Each column's source: docs/integrations/sources/erpnext.md, "Views".
CREATE OR REPLACE VIEW inventory_items AS
WITH live_item AS (
    SELECT * FROM item WHERE _ab_cdc_deleted_at IS NULL AND coalesce(disabled, 0) = 0
),
stock AS (  -- Bins of items that exist (a Bin older than its item belongs to an earlier item of that code)
    SELECT b.item_code, sum(CAST(b.actual_qty AS double precision)) AS stock_qty
    FROM bin b JOIN live_item i ON i.name = b.item_code
    WHERE b._ab_cdc_deleted_at IS NULL AND b.creation >= i.creation
    GROUP BY b.item_code
),
levels AS (
    SELECT i.name, sum(CAST(r.value ->> 'warehouse_reorder_level' AS double precision)) AS reorder_level
    FROM live_item i
    CROSS JOIN LATERAL json_array_elements(CASE WHEN json_typeof(i.reorder_levels::json) = 'array'
                                                THEN i.reorder_levels::json END) AS r(value)
    GROUP BY i.name
)
SELECT i.name AS item_code,
       i.item_name,
       coalesce(s.stock_qty, 0) AS stock_qty,
       l.reorder_level,
       i.name IN (SELECT item FROM reorder_requests) AS needs_reorder,
       CAST(i.valuation_rate AS double precision) AS unit_price
FROM live_item i
LEFT JOIN stock s ON s.item_code = i.name
LEFT JOIN levels l ON l.name = i.name;

CREATE OR REPLACE VIEW sales_orders AS
SELECT name AS order_id,
       customer_name,
       CAST(grand_total AS double precision) AS total_amount,
       status,
       transaction_date AS order_date
FROM sales_order
WHERE _ab_cdc_deleted_at IS NULL;

CREATE OR REPLACE VIEW suppliers AS
SELECT name AS supplier_id,
       supplier_name,
       country,
       payment_terms,
       coalesce(disabled, 0) = 0 AS is_active
FROM supplier
WHERE _ab_cdc_deleted_at IS NULL;
