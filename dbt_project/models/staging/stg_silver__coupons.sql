with

source as (
    select * from {{ lake_source('silver', 'coupons') }}
),

renamed as (
    select
        -- ids
        cast(coupon_id as {{ dbt.type_string() }}) as coupon_id,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        cast(order_ref as {{ dbt.type_string() }}) as order_ref,
        -- attributes
        cast(campaign as {{ dbt.type_string() }}) as campaign,
        cast(value as decimal(18, 2)) as coupon_value,
        -- dates
        cast(issued_at as timestamp) as issued_at,
        cast(expires_at as timestamp) as expires_at,
        cast(redeemed_at as timestamp) as redeemed_at
    from source
)

select * from renamed
