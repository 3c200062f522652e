with

source as (
    select * from {{ lake_source('silver', 'loyalty_ledger') }}
),

renamed as (
    select
        -- ids
        cast(entry_id as {{ dbt.type_string() }}) as entry_id,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        cast(order_ref as {{ dbt.type_string() }}) as order_ref,
        -- attributes
        cast(entry_type as {{ dbt.type_string() }}) as entry_type,
        cast(points as bigint) as points,
        -- dates
        cast(occurred_at as timestamp) as occurred_at
    from source
)

select * from renamed
