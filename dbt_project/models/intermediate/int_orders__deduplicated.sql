{#- Incremental on DuckDB (macros/incremental.sql): a daily run rebuilds only the orders that are
    new or corrected in silver, whose lines changed since this table was built, or whose
    record changed owner since (`int_identity_keys__owners`); `_built_at` tells the facts
    downstream which. -#}
{{ config(cdp.fact_config('order_id', 'stg_silver__orders', lake_tables=['silver.orders', 'silver.order_lines'])) }}
{%- set order_columns = [
    'record_id', 'source', 'source_order_id', 'order_number', 'store_id', 'status', 'status_path',
    'status_path_valid', 'channel', 'payment_method', 'currency', 'total_amount', 'item_count', 'ordered_at',
    'order_date',
] -%}
{%- set line_columns = ['line_no', 'sku', 'product_name', 'category', 'quantity', 'unit_price', 'line_amount'] -%}
-- depends_on: {{ ref('stg_silver__order_lines') }}
with

silver_orders as {{ cdp.full_build_reread() }} (
    select * from {{ ref('stg_silver__orders') }}
),

links as (
    select key_value as record_id, customer_id
    from {{ ref('int_identity_keys__owners') }}
    where key_type = 'record'
),

{% if cdp.incremental_fact() %}
{%- set lines_node = graph.nodes['model.' ~ project_name ~ '.fct_order_lines'] -%}
{%- set lines_built = adapter.get_relation(lines_node.database, lines_node.schema, lines_node.alias) -%}
changed as (
    -- new, corrected or re-delivered orders
    {{ cdp.lake_changed_keys('silver', 'orders', 'order_id', 'silver_orders', this, order_columns, ['_batch_id']) }}
    union
    -- orders whose record changed owner since (another customer, or none)
    select built.order_id
    from {{ this }} as built
    where built.record_id in ({{ cdp.keys_with_new_owner('record') }})
    {%- if lines_built is not none %}
    union
    -- orders whose lines are new, corrected or gone since this table was built
    {{ cdp.lake_changed_keys('silver', 'order_lines', 'order_id', ref('stg_silver__order_lines'), lines_built, line_columns) }}
    {%- else %}
    union
    select order_id from silver_orders
    {%- endif %}
),
{% endif %}

orders as {{ cdp.full_build_reread() }} (
    {{ cdp.rows_to_build('silver_orders', 'changed', 'order_id') }}
),

-- ranked: the latest delivery of a re-delivered order wins
{{ latest_delivery('orders', ['order_id'], 'orders.batch_id desc, orders.ordered_at desc') }},

final as (
    select
        -- ids
        ranked.order_id,
        links.customer_id,
        ranked.record_id,
        ranked.source,
        ranked.source_order_id,
        ranked.order_number,
        ranked.store_id,
        -- status
        ranked.status,
        ranked.status_path,
        ranked.status_path_valid,
        ranked.status in {{ setting_in_list('purchase_statuses') }} as is_purchase,
        -- attributes
        ranked.channel,
        ranked.payment_method,
        ranked.currency,
        -- amounts
        ranked.total_amount,
        ranked.item_count,
        -- dates
        ranked.ordered_at,
        ranked.order_date,
        {{ week_start('ranked.order_date') }} as order_week,
        -- lineage
        {{ cdp.run_started() }} as _built_at
    from ranked
    left join links
        on ranked.record_id = links.record_id
    where ranked.delivery_rank = 1
)

select * from final
