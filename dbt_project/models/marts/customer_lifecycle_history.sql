{#- Lifecycle states over time. Between two purchase days the state can only change where a
    threshold is crossed: the purchase itself, first purchase + new_days, last purchase +
    dormant_days and last purchase + churn_days. The state at each such boundary follows the rule
    below; consecutive equal states are merged into one interval.
    Incremental on DuckDB (macros/incremental.sql): transitions before the last build's as-of date
    are fixed unless the customer's identity or purchases changed, so a daily build rebuilds those
    customers and the ones whose last interval crossed a threshold since (last purchase +
    dormant_days or churn_days, first purchase + new_days); everyone else keeps their rows.
    Customers not known yet on the as-of date (int_customers__known: first recorded later) have
    no rows; the day the as-of reaches their first record changes their fingerprint, so the daily
    build adds them. -#}
{%- set new_days = setting('lifecycle.new_days', 30) -%}
{%- set dormant_days = setting('lifecycle.dormant_days', 30) -%}
{%- set churn_days = setting('lifecycle.churn_days', 180) -%}
{{ config(cdp.customer_mart_config()) }}
-- depends_on: {{ ref('int_customers__fingerprinted') }}
-- depends_on: {{ ref('int_customers__purchase_summary') }}
with

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

{% call(previous) cdp.customers_to_rebuild('int_customers__purchase_summary', 'summary') -%}
    {#- a threshold of the last purchase interval lies in (previous as-of, as-of] -#}
    {%- for start, days in [('first_purchase_date', new_days), ('last_purchase_date', dormant_days), ('last_purchase_date', churn_days)] %}
        or {{ add_days('summary.' ~ start, days) }} between {{ add_days(previous, 1) }} and as_of.as_of_date
    {%- endfor %}
{%- endcall %}

customers as (
    -- the customers known on the as-of date: one first recorded later has no state yet
    select customer_id, first_recorded_on from {{ ref('int_customers__known') }}
    where is_known
    {%- if cdp.incremental_fact() %}
        and customer_id in (select customer_id from rebuild)
    {%- endif %}
),

purchase_days as (
    select distinct
        customer_id,
        order_date as purchase_date
    from {{ ref('int_orders__purchases') }}
    {{ cdp.only_rebuilt() }}
),

gaps as (
    select
        purchase_days.customer_id,
        purchase_days.purchase_date,
        min(purchase_days.purchase_date) over (partition by purchase_days.customer_id) as first_purchase_date,
        coalesce(
            lead(purchase_days.purchase_date) over (
                partition by purchase_days.customer_id order by purchase_days.purchase_date
            ),
            {{ add_days('as_of.as_of_date', 1) }}
        ) as next_purchase_date
    from purchase_days
    cross join as_of
),

boundaries as (
    select customer_id, first_purchase_date, purchase_date, next_purchase_date, purchase_date as state_date
    from gaps
    union all
    select
        customer_id, first_purchase_date, purchase_date, next_purchase_date,
        {{ add_days('first_purchase_date', new_days) }} as state_date
    from gaps
    union all
    select
        customer_id, first_purchase_date, purchase_date, next_purchase_date,
        {{ add_days('purchase_date', dormant_days) }} as state_date
    from gaps
    union all
    select
        customer_id, first_purchase_date, purchase_date, next_purchase_date,
        {{ add_days('purchase_date', churn_days) }} as state_date
    from gaps
),

buyer_states as (
    select
        customer_id,
        state_date,
        case
            when {{ days_between('purchase_date', 'state_date') }} >= {{ churn_days }} then 'churned'
            when {{ days_between('purchase_date', 'state_date') }} >= {{ dormant_days }} then 'dormant'
            when {{ days_between('first_purchase_date', 'state_date') }} < {{ new_days }} then 'new'
            else 'active'
        end as lifecycle_state
    from boundaries
    where state_date >= purchase_date
        and state_date < next_purchase_date
),

first_purchases as (
    select
        customer_id,
        min(purchase_date) as first_purchase_date
    from purchase_days
    group by customer_id
),

potential_states as (
    -- known before the first purchase (or never bought): potential since the first record was created
    select
        customers.customer_id,
        customers.first_recorded_on as state_date,
        'potential' as lifecycle_state
    from customers
    left join first_purchases
        on customers.customer_id = first_purchases.customer_id
    where first_purchases.first_purchase_date is null
        or customers.first_recorded_on < first_purchases.first_purchase_date
),

all_states as (
    select customer_id, state_date, lifecycle_state from buyer_states
    union all
    select customer_id, state_date, lifecycle_state from potential_states
),

with_previous as (
    select
        customer_id,
        state_date,
        lifecycle_state,
        lag(lifecycle_state) over (partition by customer_id order by state_date) as previous_state
    from all_states
),

changes as (
    select *
    from with_previous
    where previous_state is null
        or previous_state <> lifecycle_state
),

final as (
    select
        customer_id,
        lifecycle_state,
        previous_state,
        state_date as valid_from,
        lead(state_date) over (partition by customer_id order by state_date) as valid_to
    from changes
)

select
    final.*,
    final.valid_to is null as is_current,
    {{ cdp.run_started() }} as _built_at
from final
