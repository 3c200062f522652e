{#- Behavioural events with the customer they belong to: through the event's customer record, or
    for anonymous events through a device id that belongs to exactly one customer.
    Incremental on DuckDB (macros/incremental.sql): a daily run rebuilds the events that are new or
    corrected in silver and those whose customer changed (their record's or device's owner). -#}
{{ config(cdp.fact_config('event_id', 'stg_silver__events', lake_tables=['silver.events'])) }}
{%- set event_columns = ['record_id', 'device_id', 'session_id', 'event_type', 'sku', 'channel', 'occurred_at'] -%}
with

silver_events as (
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

{% if cdp.incremental_fact() %}
changed as (
    -- new or corrected events
    {{ cdp.lake_changed_keys('silver', 'events', 'event_id', 'silver_events', this, event_columns) }}
    union
    -- events whose record now belongs to another customer (or to none)
    select built.event_id
    from {{ this }} as built
    left join records
        on built.record_id = records.record_id
    where built.record_id is not null
        and built.customer_id is distinct from records.customer_id
    union
    -- anonymous events whose device now belongs to another customer (or to none); apart from the
    -- events of a record, so each of the 21M built rows (at 1M people) is looked up once, not twice
    select built.event_id
    from {{ this }} as built
    left join device_owners
        on built.device_id = device_owners.device_id
    where built.record_id is null
        and built.customer_id is distinct from device_owners.customer_id
),
{% endif %}

events as (
    {{ cdp.rows_to_build('silver_events', 'changed', 'event_id') }}
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
        cast(events.occurred_at as date) as event_date,
        -- lineage
        {{ cdp.run_started() }} as _built_at
    from events
    left join records
        on events.record_id = records.record_id
    left join device_owners
        on events.record_id is null
        and events.device_id = device_owners.device_id
)

select * from final
