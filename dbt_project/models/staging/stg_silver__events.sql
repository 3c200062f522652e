with

source as (
    select * from {{ lake_source('silver', 'events') }}
),

renamed as (
    select
        -- ids
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        cast(device_id as {{ dbt.type_string() }}) as device_id,
        cast(session_id as {{ dbt.type_string() }}) as session_id,
        -- attributes
        cast(event_type as {{ dbt.type_string() }}) as event_type,
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(channel as {{ dbt.type_string() }}) as channel,
        -- dates
        cast(occurred_at as timestamp) as occurred_at
    from source
)

select * from renamed
