{#- Per one-time buyer (a single purchase day, BG/NBD frequency 0): the share of repeat buyers
    whose usual gap between purchase days is at least the days since that purchase, the chance
    that a customer with the population's purchase rhythm would still be between purchases.
    BG/NBD lets a customer drop out only right after a repeat purchase, so its P(alive) is 1 for
    every one-time buyer; `customer_clv` scores their churn risk with this instead. Null below
    `churn_risk.one_time_buyers.min_repeat_buyers` repeat buyers (too few to estimate it).

    Read whole from `int_customers__purchase_summary` every build (a plain table): the population
    moves daily, and the summary's incremental rows equal a full build's, so these do too.
    Whole days on both sides: for a whole number of days d, gap >= d exactly when floor(gap) >= d,
    so the distinct recencies are compared with the distinct whole-day gaps (a few thousand of
    each), never customer with customer. -#}
{%- set min_repeat_buyers = setting('churn_risk.one_time_buyers.min_repeat_buyers', 30) -%}

with

summary as (
    select * from {{ ref('int_customers__purchase_summary') }}
),

repeat_gaps as (
    select
        floor(usual_gap_days) as gap_days,
        count(*) as repeat_buyers
    from summary
    where purchase_days > 1
    group by floor(usual_gap_days)
),

one_time_recencies as (
    select distinct recency_days
    from summary
    where purchase_days = 1
),

survival as (
    select
        one_time_recencies.recency_days,
        cast(sum(repeat_gaps.repeat_buyers) as bigint) as repeat_buyers,
        cast(sum(
            case
                when repeat_gaps.gap_days >= one_time_recencies.recency_days then repeat_gaps.repeat_buyers
                else 0
            end
        ) as bigint) as repeat_buyers_with_longer_gap
    from one_time_recencies
    cross join repeat_gaps
    group by one_time_recencies.recency_days
),

final as (
    select
        -- ids
        summary.customer_id,
        -- the comparison
        summary.recency_days,
        coalesce(survival.repeat_buyers, 0) as repeat_buyers,
        coalesce(survival.repeat_buyers_with_longer_gap, 0) as repeat_buyers_with_longer_gap,
        case
            when survival.repeat_buyers >= {{ min_repeat_buyers }}
                then cast(survival.repeat_buyers_with_longer_gap as double) / survival.repeat_buyers
        end as repeat_gap_survival,
        summary.as_of_date
    from summary
    left join survival
        on summary.recency_days = survival.recency_days
    where summary.purchase_days = 1
)

select * from final
