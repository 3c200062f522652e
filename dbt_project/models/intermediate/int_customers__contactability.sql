{#- Whether and how marketing may reach each customer: the first channel in
    `activation.channel_priority` with consent and a valid address, and whether the profile is
    complete enough (`activation.min_completeness`) to be worth a campaign, among the customers
    known on the as-of date (int_customers__known): activation lists and campaigns of a backfill
    never name a customer first recorded after that day. -#}
{%- set conditions = {
    'email': 'golden.consent_email and golden.email is not null',
    'sms': 'golden.consent_sms and golden.phone is not null',
    'wechat': 'golden.consent_wechat',
} -%}
{%- set addresses = {'email': 'golden.email', 'sms': 'golden.phone', 'wechat': 'cast(null as ' ~ dbt.type_string() ~ ')'} -%}
{%- set priority = setting('activation.channel_priority', ['email', 'sms', 'wechat']) -%}

with

golden as (
    select * from {{ ref('stg_identity__golden_customer') }}
),

records as (
    select
        customer_id,
        max(completeness_score) as completeness_score
    from {{ ref('int_customer_records__linked') }}
    group by customer_id
),

final as (
    select
        golden.customer_id,
        case
            {%- for channel in priority %}
            when coalesce({{ conditions[channel] }}, false) then '{{ channel }}'
            {%- endfor %}
        end as contact_channel,
        case
            {%- for channel in priority %}
            when coalesce({{ conditions[channel] }}, false) then {{ addresses[channel] }}
            {%- endfor %}
        end as contact_address,
        coalesce(records.completeness_score, 0) as completeness_score,
        coalesce(records.completeness_score, 0) >= {{ setting('activation.min_completeness', 0) }}
            as meets_completeness
    from golden
    left join records
        on golden.customer_id = records.customer_id
),

known as (
    select customer_id, is_known from {{ ref('int_customers__known') }}
)

select
    final.*,
    final.contact_channel is not null as has_marketing_consent,
    -- a customer not known yet on the as-of date (a backfill for an earlier day) could not be contacted then
    final.contact_channel is not null and final.meets_completeness and known.is_known as is_contactable
from final
inner join known
    on final.customer_id = known.customer_id
