with

source as (
    select * from {{ lake_source('identity', 'identity_links') }}
),

renamed as (
    select
        -- ids
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(source_record_id as {{ dbt.type_string() }}) as source_record_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(linked_to_record_id as {{ dbt.type_string() }}) as linked_to_record_id,
        -- match evidence
        cast(link_rule as {{ dbt.type_string() }}) as link_rule,
        cast(match_probability as double) as match_probability,
        cast(match_weight as double) as match_weight,
        cast(evidence as {{ dbt.type_string() }}) as evidence,
        -- lineage
        cast(run_id as {{ dbt.type_string() }}) as resolution_run_id,
        cast(resolved_at as timestamp) as resolved_at
    from source
)

select * from renamed
