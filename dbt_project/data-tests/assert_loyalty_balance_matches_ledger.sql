-- The balances add up to the ledger entries of linked member records up to the as-of date.
with

ledger as (
    select coalesce(sum(ledger.points), 0) as points
    from {{ ref('stg_silver__loyalty_ledger') }} as ledger
    inner join {{ ref('int_customer_records__linked') }} as records
        on ledger.record_id = records.record_id
    cross join {{ ref('int_calendar__as_of') }} as as_of
    where cast(ledger.occurred_at as date) <= as_of.as_of_date
),

balances as (
    select coalesce(sum(points_balance), 0) as points from {{ ref('loyalty_balance') }}
)

select ledger.points as ledger_points, balances.points as balance_points
from ledger
cross join balances
where ledger.points <> balances.points
