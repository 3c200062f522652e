{#- One row per customer and tag; every rule's thresholds come from `tags` in cdp.yaml and every
    row says why the customer got the tag. -#}
{%- set high_value_score = setting('tags.high_value.min_monetary_score', 5) -%}
{%- set potential = setting('tags.high_potential', {}) -%}
{%- set frequent = setting('tags.frequent', {}) -%}
{%- set churn_band = setting('tags.churn_risk.min_band', 'high') -%}
{%- set churn_bands = ['high'] if churn_band == 'high' else ['medium', 'high'] -%}

with

summary as (
    select * from {{ ref('int_customers__purchase_summary') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

clv as (
    select * from {{ ref('customer_clv') }}
),

high_value as (
    select
        customer_id,
        'high_value' as tag,
        'spend ' || cast(monetary as {{ dbt.type_string() }}) || ' in the top fifth (monetary score '
        || cast(monetary_score as {{ dbt.type_string() }}) || ')' as reason
    from rfm
    where monetary_score >= {{ high_value_score }}
),

high_potential as (
    select
        customer_id,
        'high_potential' as tag,
        cast(potential_window_purchases as {{ dbt.type_string() }})
        || ' purchases in {{ potential.window_days }} days at an average of '
        || cast(round(potential_window_order_value, 2) as {{ dbt.type_string() }})
        || ', up from ' || cast(round(earlier_order_value, 2) as {{ dbt.type_string() }}) as reason
    from summary
    where potential_window_purchases >= {{ potential.min_window_purchases }}
        and earlier_order_value > 0
        and potential_window_order_value >= earlier_order_value * (1 + {{ potential.min_order_value_growth }})
),

frequent as (
    select
        customer_id,
        'frequent' as tag,
        cast(frequent_window_purchases as {{ dbt.type_string() }})
        || ' purchases in the last {{ frequent.window_days }} days' as reason
    from summary
    where frequent_window_purchases >= {{ frequent.min_purchases }}
),

dormant as (
    select
        customer_id,
        'dormant' as tag,
        'no purchase for ' || cast(recency_days as {{ dbt.type_string() }}) || ' days' as reason
    from lifecycle
    where lifecycle_state = 'dormant'
),

churn_risk as (
    select
        customer_id,
        'churn_risk' as tag,
        'churn risk ' || churn_risk_band || ' (' || cast(churn_risk_score as {{ dbt.type_string() }}) || '): '
        || churn_risk_reason as reason
    from clv
    where churn_risk_band in (
        {%- for band in churn_bands %}'{{ band }}'{% if not loop.last %}, {% endif %}{% endfor -%}
    )
),

high_value_but_dormant as (
    select
        high_value.customer_id,
        'high_value_but_dormant' as tag,
        high_value.reason || '; ' || dormant.reason as reason
    from high_value
    inner join dormant
        on high_value.customer_id = dormant.customer_id
),

unioned as (
    select * from high_value
    union all
    select * from high_potential
    union all
    select * from frequent
    union all
    select * from dormant
    union all
    select * from churn_risk
    union all
    select * from high_value_but_dormant
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
)

select
    unioned.customer_id,
    unioned.tag,
    unioned.reason,
    as_of.as_of_date as tagged_as_of
from unioned
cross join as_of
