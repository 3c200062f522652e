{#- One row per order line of a known order. A re-delivered order's lines are deduplicated here,
    in the one pass that also attaches the order's customer, date and purchase flag: at 1M people
    the 25M lines are written once, not once deduplicated and again joined.
    Incremental on DuckDB (macros/incremental.sql): a daily run rebuilds the lines of the orders
    `int_orders__deduplicated` rebuilt since this table was last built (while silver orders and
    lines were only appended to since, no order can be gone, so the old lines need no scan). -#}
{{ config(cdp.fact_config(
    'order_id', 'int_orders__deduplicated', unchanged_since_built=true,
    lake_tables=['silver.orders', 'silver.order_lines']
)) }}
with

silver_lines as {{ cdp.full_build_reread() }} (
    select * from {{ ref('stg_silver__order_lines') }}
),

orders as (
    select order_id, customer_id, order_date, is_purchase
    from {{ ref('int_orders__deduplicated') }}
    {%- if cdp.incremental_fact() %}
    where _built_at > {{ cdp.last_built_at() }}
    {%- endif %}
),

lines as {{ cdp.full_build_reread() }} (
    {{ cdp.rows_to_build('silver_lines', 'orders', 'order_id') }}
),

-- ranked: one delivery per line (the largest amount, then the SKU, as before)
{{ latest_delivery('lines', ['order_id', 'line_no'], 'lines.line_amount desc, lines.sku') }},

final as (
    select
        -- ids
        ranked.order_id,
        ranked.line_no,
        orders.customer_id,
        ranked.sku,
        -- product
        ranked.product_name,
        ranked.category,
        -- amounts
        ranked.quantity,
        ranked.unit_price,
        ranked.line_amount,
        -- order context
        orders.order_date,
        orders.is_purchase,
        -- lineage
        {{ cdp.run_started() }} as _built_at
    from ranked
    inner join orders
        on ranked.order_id = orders.order_id
    where ranked.delivery_rank = 1
)

select * from final
