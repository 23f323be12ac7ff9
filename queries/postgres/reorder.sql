-- Which items need reordering? ERPNext's reorder job (erpnext/stock/reorder_item.py) over the tables the
-- source-erpnext streams item, bin and warehouse leave in PostgreSQL (Airbyte's Postgres destination, PyAirbyte's
-- PostgresCache): one row per Material Request line the job would raise today, in the stock UOM, most urgent first.
-- The DuckDB version (queries/duckdb/reorder.sql) differs only in its JSON functions and types. Run it with the
-- destination's schema on the search_path (SET search_path TO <schema>).
WITH RECURSIVE
live_item AS (  -- rows flagged deleted (_ab_cdc_deleted_at) are documents the site no longer has
    SELECT item.*, CASE WHEN json_typeof(reorder_levels::json) = 'array' THEN reorder_levels::json END AS rules
    FROM item WHERE _ab_cdc_deleted_at IS NULL
),
candidate AS (  -- get_items_for_reorder: enabled stock items not past their end of life
    SELECT name, item_name, variant_of, creation, rules AS reorder_levels, coalesce(has_variants, 0) AS has_variants
    FROM live_item
    WHERE coalesce(disabled, 0) = 0 AND is_stock_item = 1
      AND (end_of_life IS NULL OR end_of_life > current_date)
),
rule_row AS (  -- each item's own Item Reorder rows, carrying the has_variants of the item they belong to ...
    SELECT c.name AS item, c.has_variants AS row_has_variants, r.value AS doc
    FROM candidate c CROSS JOIN LATERAL json_array_elements(c.reorder_levels) AS r(value)
    UNION ALL  -- ... and get_reorder_levels_for_variants: a variant without rows takes its template's rows
    SELECT v.name, t.has_variants, r.value
    FROM candidate v JOIN candidate t ON t.name = v.variant_of
    CROSS JOIN LATERAL json_array_elements(t.reorder_levels) AS r(value)
    WHERE coalesce(json_array_length(v.reorder_levels), 0) = 0
),
rule AS (  -- `if d.has_variants: continue`: rows of templates are skipped (inherited rows carry the template's)
    SELECT item,
           doc ->> 'warehouse' AS warehouse,
           nullif(doc ->> 'warehouse_group', '') AS warehouse_group,
           coalesce(CAST(doc ->> 'warehouse_reorder_level' AS double precision), 0) AS reorder_level,
           coalesce(CAST(doc ->> 'warehouse_reorder_qty' AS double precision), 0) AS reorder_qty,
           doc ->> 'material_request_type' AS request_type
    FROM rule_row
    WHERE row_has_variants = 0
),
live_warehouse AS (
    SELECT name, parent_warehouse, coalesce(disabled, 0) AS disabled FROM warehouse WHERE _ab_cdc_deleted_at IS NULL
),
live_bin AS (  -- Bins of items that exist: ERPNext deletes an item's Bins without a Deleted Document, so they
               -- stay here; a Bin older than its item belongs to an earlier, deleted item of the same code
    SELECT b.item_code, b.warehouse, coalesce(CAST(b.projected_qty AS double precision), 0) AS projected_qty
    FROM bin b JOIN live_item i ON i.name = b.item_code
    WHERE b._ab_cdc_deleted_at IS NULL AND coalesce(b.warehouse, '') <> '' AND b.creation >= i.creation
),
above(warehouse, ancestor) AS (  -- each Bin's warehouse, itself and every warehouse above it (parent_warehouse)
    SELECT DISTINCT warehouse, warehouse FROM live_bin
    UNION
    SELECT a.warehouse, w.parent_warehouse
    FROM above a JOIN live_warehouse w ON w.name = a.ancestor
    WHERE coalesce(w.parent_warehouse, '') <> ''
),
projected AS (  -- get_item_warehouse_projected_qty: a warehouse's projected qty and that of all below it
    SELECT b.item_code, a.ancestor AS warehouse, sum(b.projected_qty) AS projected_qty
    FROM live_bin b JOIN above a ON a.warehouse = b.warehouse
    GROUP BY b.item_code, a.ancestor
),
due AS (
    SELECT r.item, c.item_name, r.warehouse, coalesce(p.projected_qty, 0) AS projected_qty,  -- 0 where no Bin
           r.reorder_level, r.reorder_qty, r.request_type
    FROM rule r
    JOIN candidate c ON c.name = r.item
    JOIN live_warehouse w ON w.name = r.warehouse AND w.disabled = 0  -- rules on disabled warehouses are skipped
    LEFT JOIN projected p ON p.item_code = r.item AND p.warehouse = coalesce(r.warehouse_group, r.warehouse)
)
SELECT item, item_name, warehouse, projected_qty, reorder_level,
       greatest(reorder_qty, reorder_level - projected_qty) AS qty_to_request,  -- the larger of qty and shortfall
       request_type
FROM due
WHERE (reorder_level <> 0 OR reorder_qty <> 0) AND projected_qty <= reorder_level
ORDER BY reorder_level - projected_qty DESC, item, warehouse
