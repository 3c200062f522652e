with

source as (
    select * from {{ lake_source('silver', 'survey_responses') }}
),

renamed as (
    select
        -- ids
        cast(response_id as {{ dbt.type_string() }}) as response_id,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        -- scores
        cast(nps as bigint) as nps,
        cast(csat as bigint) as csat,
        cast(touchpoint as {{ dbt.type_string() }}) as touchpoint,
        -- dates
        cast(submitted_at as timestamp) as submitted_at
    from source
)

select * from renamed
