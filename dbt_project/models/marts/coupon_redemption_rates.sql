{#- Coupons per campaign as of the as-of date, and the revenue of the orders they were redeemed on.
    An order's revenue counts once per campaign however many of the campaign's coupons were used on
    it, and only when the order is a purchase (`purchase_statuses`: a cancelled order is no
    revenue). An order carrying coupons of two campaigns counts whole in each (attributed to every
    campaign that helped sell it, not split): campaign totals then do not add up to revenue. -#}
with

coupons as (
    select * from {{ ref('stg_silver__coupons') }}
),

orders as (
    select order_id, source_order_id, order_number, is_purchase, total_amount
    from {{ ref('int_orders__deduplicated') }}
),

-- order_ref is the order as the loyalty programme wrote it: a till ticket number (the POS order
-- id), a web order's number (`#100123`, not the shop's order id) or our order id: match any way
ref_matches as (
    select orders.order_id as order_ref, orders.order_id, orders.is_purchase, orders.total_amount
    from orders
    where orders.order_id in (select order_ref from coupons)
    union all
    select orders.source_order_id as order_ref, orders.order_id, orders.is_purchase, orders.total_amount
    from orders
    where orders.source_order_id in (select order_ref from coupons)
    union all
    select orders.order_number as order_ref, orders.order_id, orders.is_purchase, orders.total_amount
    from orders
    where orders.order_number in (select order_ref from coupons)
),

-- one order per reference (the largest, should two sources share a ticket number)
redeemed_orders as (
    select order_ref, order_id, is_purchase, total_amount
    from (
        select
            ref_matches.*,
            row_number() over (
                partition by order_ref order by total_amount desc, order_id
            ) as match_rank
        from ref_matches
    ) as ranked_matches
    where match_rank = 1
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
        redeemed_orders.order_id as redeemed_order_id,
        redeemed_orders.is_purchase as redeemed_order_is_purchase,
        redeemed_orders.total_amount as redeemed_order_amount,
        as_of.as_of_date
    from coupons
    cross join as_of
    left join redeemed_orders
        on coupons.order_ref = redeemed_orders.order_ref
    where cast(coupons.issued_at as date) <= as_of.as_of_date
),

-- each purchase order once per campaign, however many of its coupons it carried
campaign_orders as (
    select distinct
        campaign,
        redeemed_order_id,
        redeemed_order_amount
    from flagged
    where is_redeemed and redeemed_order_is_purchase
),

campaign_revenue as (
    select
        campaign,
        count(*) as redeemed_orders,
        sum(redeemed_order_amount) as redeemed_order_revenue
    from campaign_orders
    group by campaign
),

coupon_counts as (
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
        cast(min(issued_at) as date) as first_issued_on,
        cast(max(expires_at) as date) as last_expires_on
    from flagged
    group by campaign
),

final as (
    select
        coupon_counts.campaign,
        coupon_counts.coupons_issued,
        coupon_counts.coupons_redeemed,
        coupon_counts.coupons_expired_unredeemed,
        coupon_counts.coupons_open,
        coupon_counts.redemption_rate,
        coupon_counts.redeemed_value,
        cast(coalesce(campaign_revenue.redeemed_order_revenue, 0) as decimal(18, 2)) as redeemed_order_revenue,
        coupon_counts.first_issued_on,
        coupon_counts.last_expires_on,
        coalesce(campaign_revenue.redeemed_orders, 0) as redeemed_orders
    from coupon_counts
    left join campaign_revenue
        on coupon_counts.campaign = campaign_revenue.campaign
)

select * from final
