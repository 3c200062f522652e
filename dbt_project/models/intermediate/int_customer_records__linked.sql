with

links as (
    select * from {{ ref('stg_identity__identity_links') }}
),

records as (
    select * from {{ ref('stg_silver__customer_records') }}
),

final as (
    select
        -- ids
        links.record_id,
        links.customer_id,
        links.source,
        links.source_record_id,
        records.device_id,
        records.member_id,
        -- profile quality
        records.completeness_score,
        -- dates
        records.created_at
    from links
    left join records
        on links.record_id = records.record_id
)

select * from final
