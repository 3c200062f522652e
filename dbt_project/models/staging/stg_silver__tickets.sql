with

source as (
    select * from {{ lake_source('silver', 'tickets') }}
),

renamed as (
    select
        -- ids
        cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        -- attributes
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(priority as {{ dbt.type_string() }}) as priority,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(contacts as bigint) as contacts,
        cast(csat as bigint) as csat,
        -- dates
        cast(created_at as timestamp) as created_at,
        cast(first_response_at as timestamp) as first_response_at,
        cast(resolved_at as timestamp) as resolved_at
    from source
)

select * from renamed
