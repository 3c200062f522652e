with

orders as (
    select * from {{ ref('stg_silver__orders') }}
),

links as (
    select record_id, customer_id from {{ ref('stg_identity__identity_links') }}
),

lines as (
    select * from {{ ref('int_order_lines__deduplicated') }}
),

ranked as (
    select
        orders.*,
        row_number() over (
            partition by order_id
            order by batch_id desc, ordered_at desc
        ) as delivery_rank
    from orders
),

line_totals as (
    select
        order_id,
        count(*) as line_count,
        sum(quantity) as units,
        sum(line_amount) as lines_amount
    from lines
    group by order_id
),

final as (
    select
        -- ids
        ranked.order_id,
        links.customer_id,
        ranked.record_id,
        ranked.source,
        ranked.source_order_id,
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
        coalesce(line_totals.line_count, 0) as line_count,
        coalesce(line_totals.units, 0) as units,
        coalesce(line_totals.lines_amount, 0) as lines_amount,
        -- dates
        ranked.ordered_at,
        ranked.order_date,
        {{ week_start('ranked.order_date') }} as order_week
    from ranked
    left join links
        on ranked.record_id = links.record_id
    left join line_totals
        on ranked.order_id = line_totals.order_id
    where ranked.delivery_rank = 1
)

select * from final
