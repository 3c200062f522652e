with

orders as (
    select * from {{ ref('stg_silver__orders') }}
),

links as (
    select record_id, customer_id from {{ ref('stg_identity__identity_links') }}
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
        {{ week_start('ranked.order_date') }} as order_week
    from ranked
    left join links
        on ranked.record_id = links.record_id
    where ranked.delivery_rank = 1
)

select * from final
