{#- Historical value, predicted 12-month purchases and value, probability alive, and an
    explainable churn-risk score:
      score = w_alive * (1 - P(alive)) + w_overdue * overdue
      overdue = clamp((days since last purchase / usual gap - 1) / (overdue_cap - 1), 0, 1)
    where the usual gap is the customer's own average gap between purchase days, or the median
    of everyone's for a one-time buyer. P(alive) is BG/NBD's for repeat buyers; BG/NBD gives every
    one-time buyer 1 (it lets customers drop out only after a repeat purchase), which would keep
    them, most of a retail base, out of the high band for ever, so theirs is the share of repeat
    buyers whose usual gap is at least the days since the purchase
    (`int_customers__repeat_gap_survival`). Without a P(alive) (no fitted model for a repeat
    buyer, too few repeat buyers for a one-time buyer) the score is the overdue part alone. -#}
{%- set w_alive = setting('churn_risk.weight_probability_alive', 0.6) -%}
{%- set w_overdue = setting('churn_risk.weight_overdue', 0.4) -%}
{%- set cap = setting('churn_risk.overdue_cap', 3.0) -%}
{%- set min_repeat_buyers = setting('churn_risk.one_time_buyers.min_repeat_buyers', 30) -%}

with

predicted as (
    select * from {{ ref('int_customers__clv_predicted') }}
),

summary as (
    select * from {{ ref('int_customers__purchase_summary') }}
),

one_time as (
    select * from {{ ref('int_customers__repeat_gap_survival') }}
),

population as (
    select {{ median('usual_gap_days') }} as median_gap_days
    from summary
    where usual_gap_days is not null
),

gaps as (
    select
        summary.customer_id,
        summary.recency_days,
        summary.purchase_orders,
        summary.purchase_days,
        summary.total_spend,
        summary.first_purchase_date,
        summary.last_purchase_date,
        summary.as_of_date,
        coalesce(summary.usual_gap_days, population.median_gap_days) as usual_gap_days,
        summary.usual_gap_days is null as usual_gap_is_population_median
    from summary
    cross join population
),

components as (
    select
        gaps.*,
        predicted.probability_alive,
        predicted.predicted_purchases,
        predicted.expected_order_value,
        predicted.predicted_clv,
        predicted.clv_model_status,
        case
            when gaps.purchase_days = 1 then one_time.repeat_gap_survival
            else predicted.probability_alive
        end as churn_probability_alive,
        case
            when gaps.purchase_days = 1 and one_time.repeat_gap_survival is not null
                then 'repeat_gap_survival'
            when gaps.purchase_days > 1 and predicted.probability_alive is not null
                then 'bgnbd'
        end as churn_probability_alive_basis,
        one_time.repeat_buyers as one_time_comparison_repeat_buyers,
        case
            when gaps.usual_gap_days is null or gaps.usual_gap_days <= 0 then null
            else gaps.recency_days / gaps.usual_gap_days
        end as overdue_ratio
    from gaps
    left join predicted
        on gaps.customer_id = predicted.customer_id
    left join one_time
        on gaps.customer_id = one_time.customer_id
),

scored as (
    select
        components.*,
        coalesce(least(1.0, greatest(0.0, (overdue_ratio - 1.0) / ({{ cap }} - 1.0))), 0.0) as overdue_component
    from components
),

risk as (
    select
        scored.*,
        round(
            case
                when churn_probability_alive is null then overdue_component
                else {{ w_alive }} * (1.0 - churn_probability_alive) + {{ w_overdue }} * overdue_component
            end,
            4
        ) as churn_risk_score
    from scored
),

final as (
    select
        -- ids
        customer_id,
        -- history
        first_purchase_date,
        last_purchase_date,
        purchase_orders,
        total_spend as historical_value,
        -- predictions
        probability_alive,
        predicted_purchases as predicted_purchases_12m,
        expected_order_value,
        cast(predicted_clv as decimal(18, 2)) as predicted_value_12m,
        -- churn risk
        recency_days,
        usual_gap_days,
        usual_gap_is_population_median,
        overdue_ratio,
        churn_risk_score,
        clv_model_status,
        as_of_date,
        case
            when churn_risk_score >= {{ setting('churn_risk.high_from', 0.7) }} then 'high'
            when churn_risk_score >= {{ setting('churn_risk.medium_from', 0.4) }} then 'medium'
            else 'low'
        end as churn_risk_band,
        'P(alive) '
        || coalesce(cast(round(churn_probability_alive, 2) as {{ dbt.type_string() }}), 'n/a')
        || case
            when purchase_days > 1 then ''
            when churn_probability_alive is null
                then ' (one-time buyer; fewer than {{ min_repeat_buyers }} repeat buyers to compare with)'
            else ' (one-time buyer: share of '
                || cast(one_time_comparison_repeat_buyers as {{ dbt.type_string() }})
                || ' repeat buyers with a usual gap of '
                || cast(recency_days as {{ dbt.type_string() }})
                || '+ days)'
        end
        || '; '
        || coalesce(cast(recency_days as {{ dbt.type_string() }}), '?')
        || ' days since the last purchase, '
        || coalesce(cast(round(overdue_ratio, 1) as {{ dbt.type_string() }}), 'n/a')
        || 'x the usual '
        || coalesce(cast(round(usual_gap_days, 0) as {{ dbt.type_string() }}), '?')
        || '-day gap'
        || case
            when usual_gap_is_population_median then ' (everyone''s median)' else ''
        end as churn_risk_reason,
        churn_probability_alive,
        churn_probability_alive_basis
    from risk
)

select * from final
