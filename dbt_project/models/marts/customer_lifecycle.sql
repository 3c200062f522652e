with

history as (
    select * from {{ ref('customer_lifecycle_history') }}
),

summary as (
    select * from {{ ref('int_customers__purchase_summary') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

current_states as (
    select * from history where is_current
),

final as (
    select
        -- ids
        current_states.customer_id,
        -- state
        current_states.lifecycle_state,
        current_states.valid_from as state_since,
        current_states.previous_state,
        {{ days_between('current_states.valid_from', 'as_of.as_of_date') }} as days_in_state,
        -- purchases
        summary.first_purchase_date,
        summary.last_purchase_date,
        summary.recency_days,
        coalesce(summary.purchase_days, 0) as purchase_days,
        -- dates
        as_of.as_of_date
    from current_states
    cross join as_of
    left join summary
        on current_states.customer_id = summary.customer_id
)

select * from final
