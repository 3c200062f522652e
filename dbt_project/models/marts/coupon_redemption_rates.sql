with

coupons as (
    select * from {{ ref('stg_silver__coupons') }}
),

orders as (
    select order_id, source_order_id, order_number, total_amount from {{ ref('int_orders__deduplicated') }}
),

-- order_ref is the order as the loyalty programme wrote it: a till ticket number (the POS order
-- id), a web order's number (`#100123`, not the shop's order id) or our order id: match any way
redeemed_orders as (
    select order_ref, max(total_amount) as total_amount
    from (
        select orders.order_id as order_ref, orders.total_amount
        from orders
        where orders.order_id in (select order_ref from coupons)
        union all
        select orders.source_order_id as order_ref, orders.total_amount
        from orders
        where orders.source_order_id in (select order_ref from coupons)
        union all
        select orders.order_number as order_ref, orders.total_amount
        from orders
        where orders.order_number in (select order_ref from coupons)
    ) as matches
    group by order_ref
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

flagged as (
    select
        coupons.campaign,
        coupons.coupon_value,
        coupons.issued_at,
        coupons.expires_at,
        coupons.redeemed_at is not null
        and cast(coupons.redeemed_at as date) <= as_of.as_of_date as is_redeemed,
        redeemed_orders.total_amount as redeemed_order_amount,
        as_of.as_of_date
    from coupons
    cross join as_of
    left join redeemed_orders
        on coupons.order_ref = redeemed_orders.order_ref
    where cast(coupons.issued_at as date) <= as_of.as_of_date
),

final as (
    select
        campaign,
        count(*) as coupons_issued,
        sum(case when is_redeemed then 1 else 0 end) as coupons_redeemed,
        sum(case when not is_redeemed and cast(expires_at as date) < as_of_date then 1 else 0 end)
            as coupons_expired_unredeemed,
        sum(case when not is_redeemed and (expires_at is null or cast(expires_at as date) >= as_of_date) then 1 else 0 end)
            as coupons_open,
        cast(sum(case when is_redeemed then 1 else 0 end) as double) / count(*) as redemption_rate,
        cast(sum(case when is_redeemed then coupon_value else 0 end) as decimal(18, 2)) as redeemed_value,
        cast(sum(case when is_redeemed then coalesce(redeemed_order_amount, 0) else 0 end) as decimal(18, 2))
            as redeemed_order_revenue,
        cast(min(issued_at) as date) as first_issued_on,
        cast(max(expires_at) as date) as last_expires_on
    from flagged
    group by campaign
)

select * from final
