{#- Behavioural events with the customer they belong to: through the event's customer record, or
    for anonymous events through a device id that belongs to exactly one customer. -#}
with

events as (
    select * from {{ ref('stg_silver__events') }}
),

records as (
    select * from {{ ref('int_customer_records__linked') }}
),

device_owners as (
    select
        device_id,
        min(customer_id) as customer_id
    from records
    where device_id is not null
    group by device_id
    having count(distinct customer_id) = 1
),

final as (
    select
        -- ids
        events.event_id,
        coalesce(records.customer_id, device_owners.customer_id) as customer_id,
        events.record_id,
        events.device_id,
        events.session_id,
        -- attributes
        events.event_type,
        events.sku,
        events.channel,
        case
            when records.customer_id is not null then 'record'
            when device_owners.customer_id is not null then 'device'
        end as resolved_by,
        -- dates
        events.occurred_at,
        cast(events.occurred_at as date) as event_date
    from events
    left join records
        on events.record_id = records.record_id
    left join device_owners
        on events.record_id is null
        and events.device_id = device_owners.device_id
)

select * from final
