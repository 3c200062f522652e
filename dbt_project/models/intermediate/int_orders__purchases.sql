{#- The purchases every customer metric is computed from: purchase orders of known customers on or
    before the as-of date. -#}
with

orders as (
    select * from {{ ref('int_orders__deduplicated') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

final as (
    select
        orders.customer_id,
        orders.order_id,
        orders.order_date,
        orders.channel,
        orders.total_amount as amount
    from orders
    cross join as_of
    where orders.is_purchase
        and orders.customer_id is not null
        and orders.order_date <= as_of.as_of_date
)

select * from final
