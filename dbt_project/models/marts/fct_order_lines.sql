with

lines as (
    select * from {{ ref('int_order_lines__deduplicated') }}
),

orders as (
    select order_id, customer_id, order_date, is_purchase from {{ ref('int_orders__deduplicated') }}
),

final as (
    select
        -- ids
        lines.order_id,
        lines.line_no,
        orders.customer_id,
        lines.sku,
        -- product
        lines.product_name,
        lines.category,
        -- amounts
        lines.quantity,
        lines.unit_price,
        lines.line_amount,
        -- order context
        orders.order_date,
        orders.is_purchase
    from lines
    inner join orders
        on lines.order_id = orders.order_id
)

select * from final
