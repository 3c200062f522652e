{#- Behavioural events with the customer they belong to: through the event's customer record, or
    for anonymous events through a device id that belongs to exactly one customer.
    Incremental on DuckDB (macros/incremental.sql): a daily run rebuilds the events that are new or
    corrected in silver and those whose record or device changed owner since this table was built
    (`int_identity_keys__owners`). -#}
{{ config(cdp.fact_config('event_id', 'stg_silver__events', lake_tables=['silver.events'])) }}
{%- set event_columns = ['record_id', 'device_id', 'session_id', 'event_type', 'sku', 'channel', 'occurred_at'] -%}
with

silver_events as (
    select * from {{ ref('stg_silver__events') }}
),

owners as (
    select * from {{ ref('int_identity_keys__owners') }}
),

records as (
    select key_value as record_id, customer_id
    from owners
    where key_type = 'record'
),

device_owners as (
    select key_value as device_id, customer_id
    from owners
    where key_type = 'device'
        and customer_id is not null
),

{% if cdp.incremental_fact() %}
changed as (
    -- new or corrected events
    {{ cdp.lake_changed_keys('silver', 'events', 'event_id', 'silver_events', this, event_columns) }}
    union
    -- events whose record changed owner since (another customer, or none)
    select built.event_id
    from {{ this }} as built
    where built.record_id in ({{ cdp.keys_with_new_owner('record') }})
    union
    -- anonymous events whose device changed owner since (another customer, or none)
    select built.event_id
    from {{ this }} as built
    where built.record_id is null
        and built.device_id in ({{ cdp.keys_with_new_owner('device') }})
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
