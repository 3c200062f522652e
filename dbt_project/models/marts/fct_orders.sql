with

orders as (
    select * from {{ ref('int_orders__deduplicated') }}
),

final as (
    select
        -- ids
        order_id,
        customer_id,
        record_id,
        source,
        source_order_id,
        store_id,
        -- status
        status,
        status_path,
        status_path_valid,
        is_purchase,
        -- attributes
        channel,
        payment_method,
        currency,
        -- amounts
        total_amount,
        item_count,
        line_count,
        units,
        lines_amount,
        -- dates
        ordered_at,
        order_date,
        order_week
    from orders
)

select * from final
