with

source as (
    select * from {{ lake_source('silver', 'customer_records') }}
),

renamed as (
    select
        -- ids
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(source_record_id as {{ dbt.type_string() }}) as source_record_id,
        cast(device_id as {{ dbt.type_string() }}) as device_id,
        cast(member_id as {{ dbt.type_string() }}) as member_id,
        -- profile quality
        cast(completeness_score as double) as completeness_score,
        -- dates
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at
    from source
)

select * from renamed
