{#- Per customer: what they bought and when, plus the windowed figures the tag rules compare.
    Incremental on DuckDB (macros/incremental.sql): a daily build rebuilds the customers whose
    identity or purchases changed, and those with a purchase that left a tag window as the as-of
    date moved on; everyone else keeps their row, with recency moved to today's as-of (post-hook). -#}
{%- set frequent_days = setting('tags.frequent.window_days', 7) -%}
{%- set potential_days = setting('tags.high_potential.window_days', 90) -%}
{{ config(cdp.customer_mart_config(post_hook=['{{ cdp.move_recency_to_as_of() }}'])) }}
-- depends_on: {{ ref('int_customers__fingerprinted') }}
with

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

{% call(previous) cdp.customers_to_rebuild('int_orders__purchases', 'purchases') -%}
    {#- a purchase left a tag window: it lies in (previous as-of - window, as-of - window] -#}
    {%- for days in [frequent_days, potential_days] %}
        or (
            purchases.order_date > {{ add_days(previous, -days) }}
            and purchases.order_date <= {{ add_days('as_of.as_of_date', -days) }}
        )
    {%- endfor %}
{%- endcall %}

purchases as (
    select * from {{ ref('int_orders__purchases') }}
    {{ cdp.only_rebuilt() }}
),

flagged as (
    select
        purchases.*,
        as_of.as_of_date,
        purchases.order_date > {{ add_days('as_of.as_of_date', -frequent_days) }} as in_frequent_window,
        purchases.order_date > {{ add_days('as_of.as_of_date', -potential_days) }} as in_potential_window
    from purchases
    cross join as_of
),

per_customer as (
    select
        customer_id,
        max(as_of_date) as as_of_date,
        -- dates
        min(order_date) as first_purchase_date,
        max(order_date) as last_purchase_date,
        -- counts
        count(*) as purchase_orders,
        count(distinct order_date) as purchase_days,
        -- amounts
        cast(sum(amount) as decimal(18, 2)) as total_spend,
        -- tag windows
        sum(case when in_frequent_window then 1 else 0 end) as frequent_window_purchases,
        sum(case when in_potential_window then 1 else 0 end) as potential_window_purchases,
        sum(case when in_potential_window then amount else 0 end) as potential_window_spend,
        sum(case when in_potential_window then 0 else 1 end) as earlier_purchases,
        sum(case when in_potential_window then 0 else amount end) as earlier_spend,
        -- channels
        {{ sorted_distinct_list('channel') }} as purchase_channels
    from flagged
    group by customer_id
),

final as (
    select
        customer_id,
        first_purchase_date,
        last_purchase_date,
        {{ days_between('last_purchase_date', 'as_of_date') }} as recency_days,
        purchase_orders,
        purchase_days,
        total_spend,
        cast(total_spend as double) / purchase_orders as avg_order_value,
        case
            when purchase_days > 1
                then cast({{ days_between('first_purchase_date', 'last_purchase_date') }} as double)
                    / (purchase_days - 1)
        end as usual_gap_days,
        frequent_window_purchases,
        potential_window_purchases,
        case
            when potential_window_purchases > 0
                then cast(potential_window_spend as double) / potential_window_purchases
        end as potential_window_order_value,
        case
            when earlier_purchases > 0 then cast(earlier_spend as double) / earlier_purchases
        end as earlier_order_value,
        purchase_channels,
        as_of_date
    from per_customer
)

select * from final
