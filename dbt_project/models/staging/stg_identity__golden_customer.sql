with

source as (
    select * from {{ lake_source('identity', 'golden_customer') }}
),

renamed as (
    select
        -- ids
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(member_id as {{ dbt.type_string() }}) as member_id,
        -- names
        cast(given_name as {{ dbt.type_string() }}) as given_name,
        cast(family_name as {{ dbt.type_string() }}) as family_name,
        cast(full_name as {{ dbt.type_string() }}) as full_name,
        cast(name_pinyin as {{ dbt.type_string() }}) as name_pinyin,
        -- demographics
        cast(date_of_birth as date) as date_of_birth,
        cast(gender as {{ dbt.type_string() }}) as gender,
        -- contact
        cast(email as {{ dbt.type_string() }}) as email,
        cast(phone as {{ dbt.type_string() }}) as phone,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(region as {{ dbt.type_string() }}) as region,
        cast(country as {{ dbt.type_string() }}) as country,
        -- consent
        cast(consent_email as boolean) as consent_email,
        cast(consent_sms as boolean) as consent_sms,
        cast(consent_wechat as boolean) as consent_wechat,
        cast(consent_profiling as boolean) as consent_profiling
    from source
)

select * from renamed
