-- Every customer mart sums to the same purchase revenue as fct_orders (purchases of resolved
-- customers up to the as-of date). Returns the marts that disagree.
with

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

orders as (
    select coalesce(sum(total_amount), 0) as revenue
    from {{ ref('fct_orders') }}
    cross join as_of
    where is_purchase
        and customer_id is not null
        and order_date <= as_of.as_of_date
),

marts as (
    select 'dim_customer' as mart, coalesce(sum(total_spend), 0) as revenue from {{ ref('dim_customer') }}
    union all
    select 'customer_rfm' as mart, coalesce(sum(monetary), 0) as revenue from {{ ref('customer_rfm') }}
    union all
    select 'customer_clv' as mart, coalesce(sum(historical_value), 0) as revenue from {{ ref('customer_clv') }}
)

select
    marts.mart,
    marts.revenue as mart_revenue,
    orders.revenue as fct_orders_revenue
from marts
cross join orders
where marts.revenue <> orders.revenue
