with

ledger as (
    select * from {{ ref('stg_silver__loyalty_ledger') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

monthly as (
    select
        {{ month_start('ledger.occurred_at') }} as month_start,
        sum(case when entry_type = 'earn' then points else 0 end) as points_earned,
        -sum(case when entry_type = 'redeem' then points else 0 end) as points_redeemed,
        -sum(case when entry_type = 'expire' then points else 0 end) as points_expired,
        sum(case when entry_type = 'adjust' then points else 0 end) as points_adjusted,
        count(distinct case when entry_type = 'earn' then record_id end) as members_earning,
        count(distinct case when entry_type = 'redeem' then record_id end) as members_redeeming
    from ledger
    cross join as_of
    where cast(ledger.occurred_at as date) <= as_of.as_of_date
    group by {{ month_start('ledger.occurred_at') }}
),

final as (
    select
        monthly.*,
        sum(points_earned) over (order by month_start rows between unbounded preceding and current row)
            as cumulative_points_earned,
        sum(points_redeemed) over (order by month_start rows between unbounded preceding and current row)
            as cumulative_points_redeemed
    from monthly
)

select
    final.*,
    cast(cumulative_points_redeemed as double) / nullif(cumulative_points_earned, 0) as cumulative_redemption_rate
from final
