-- A high_value_but_dormant tag only goes to customers tagged both high_value and dormant.
with

tags as (
    select * from {{ ref('customer_tags') }}
)

select combined.customer_id
from tags as combined
left join tags as high_value
    on combined.customer_id = high_value.customer_id
    and high_value.tag = 'high_value'
left join tags as dormant
    on combined.customer_id = dormant.customer_id
    and dormant.tag = 'dormant'
where combined.tag = 'high_value_but_dormant'
    and (high_value.customer_id is null or dormant.customer_id is null)
