with

source as (
    select * from {{ lake_source('silver', 'social_posts') }}
),

renamed as (
    select
        -- ids
        cast(post_id as {{ dbt.type_string() }}) as post_id,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        -- attributes
        cast(platform as {{ dbt.type_string() }}) as platform,
        cast(post_type as {{ dbt.type_string() }}) as post_type,
        cast(likes as bigint) as likes,
        -- dates
        cast(created_at as timestamp) as created_at
    from source
)

select * from renamed
