with

ledger as (
    select * from {{ ref('stg_silver__loyalty_ledger') }}
),

records as (
    select record_id, customer_id from {{ ref('int_customer_records__linked') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

entries as (
    select
        records.customer_id,
        ledger.record_id,
        ledger.entry_type,
        ledger.points,
        ledger.occurred_at
    from ledger
    inner join records
        on ledger.record_id = records.record_id
    cross join as_of
    where cast(ledger.occurred_at as date) <= as_of.as_of_date
),

final as (
    select
        customer_id,
        {{ sorted_distinct_list('record_id') }} as member_records,
        sum(points) as points_balance,
        sum(case when entry_type = 'earn' then points else 0 end) as points_earned,
        -sum(case when entry_type = 'redeem' then points else 0 end) as points_redeemed,
        -sum(case when entry_type = 'expire' then points else 0 end) as points_expired,
        sum(case when entry_type = 'adjust' then points else 0 end) as points_adjusted,
        cast(sum(points) / {{ setting('loyalty.points_per_yuan', 100) }} as decimal(18, 2)) as balance_value,
        max(occurred_at) as last_activity_at
    from entries
    group by customer_id
)

select * from final
