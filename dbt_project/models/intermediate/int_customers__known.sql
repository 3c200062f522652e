{#- Which customers the CDP knew on the as-of date: those with a source record created by then (or
    with no creation date to go by) or a purchase by then. A point-in-time view (a backfill, a
    re-run for a past day with `marts.as_of_date`) leaves out a customer first recorded later: the
    lifecycle marts give them no state and they are on no activation list or campaign, as on that
    day. One definition, shared by customer_lifecycle_history, int_customers__contactability and the
    tests. -#}
with

golden as (
    select customer_id from {{ ref('stg_identity__golden_customer') }}
),

records as (
    select
        customer_id,
        cast(min(created_at) as date) as first_recorded_on
    from {{ ref('int_customer_records__linked') }}
    group by customer_id
),

buyers as (
    select distinct customer_id from {{ ref('int_orders__purchases') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

final as (
    select
        -- ids
        golden.customer_id,
        -- dates
        records.first_recorded_on,
        -- known on the as-of date
        records.first_recorded_on is null
            or records.first_recorded_on <= as_of.as_of_date
            or buyers.customer_id is not null as is_known
    from golden
    cross join as_of
    left join records
        on golden.customer_id = records.customer_id
    left join buyers
        on golden.customer_id = buyers.customer_id
)

select * from final
