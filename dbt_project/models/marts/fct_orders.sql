{#- Incremental on DuckDB (macros/incremental.sql): a daily run rebuilds the orders
    `int_orders__deduplicated` rebuilt since this table was last built (their lines are rebuilt
    with them; while silver orders and lines were only appended to since, no order can be gone, so
    the old rows need no scan). -#}
{{ config(cdp.fact_config(
    'order_id', 'int_orders__deduplicated', unchanged_since_built=true,
    lake_tables=['silver.orders', 'silver.order_lines']
)) }}
with

orders as (
    select * from {{ ref('int_orders__deduplicated') }}
    {%- if cdp.incremental_fact() %}
    where _built_at > {{ cdp.last_built_at() }}
    {%- endif %}
),

lines as (
    select * from {{ ref('fct_order_lines') }}
    {%- if cdp.incremental_fact() %}
    where order_id in (select order_id from orders)
    {%- endif %}
),

line_totals as (
    -- from the deduplicated lines fct_order_lines already holds (every line there has its order)
    select
        order_id,
        count(*) as line_count,
        sum(quantity) as units,
        cast(sum(line_amount) as decimal(18, 2)) as lines_amount
    from lines
    group by order_id
),

final as (
    select
        -- ids
        orders.order_id,
        orders.customer_id,
        orders.record_id,
        orders.source,
        orders.source_order_id,
        orders.store_id,
        -- status
        orders.status,
        orders.status_path,
        orders.status_path_valid,
        orders.is_purchase,
        -- attributes
        orders.channel,
        orders.payment_method,
        orders.currency,
        -- amounts
        orders.total_amount,
        orders.item_count,
        coalesce(line_totals.line_count, 0) as line_count,
        coalesce(line_totals.units, 0) as units,
        coalesce(line_totals.lines_amount, cast(0 as decimal(18, 2))) as lines_amount,
        -- dates
        orders.ordered_at,
        orders.order_date,
        orders.order_week,
        -- lineage
        {{ cdp.run_started() }} as _built_at
    from orders
    left join line_totals
        on orders.order_id = line_totals.order_id
)

select * from final
