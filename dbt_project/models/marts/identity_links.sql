with

links as (
    select * from {{ ref('stg_identity__identity_links') }}
),

final as (
    select
        -- ids
        source,
        source_record_id,
        customer_id,
        record_id,
        -- match evidence
        link_rule,
        match_probability,
        match_weight,
        linked_to_record_id,
        evidence,
        -- lineage
        resolution_run_id,
        resolved_at
    from links
)

select * from final
