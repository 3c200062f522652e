{#- The 360° profile: one row per resolved customer with the golden attributes, every linked
    source record, purchases, channels, service, survey, social and loyalty summaries, consent,
    and the segment, lifecycle state, tags and CLV from the other marts. -#}
with

golden as (
    select * from {{ ref('stg_identity__golden_customer') }}
),

records as (
    select
        customer_id,
        count(*) as record_count,
        {{ sorted_distinct_list('source') }} as sources,
        {{ sorted_distinct_list('record_id') }} as source_record_ids,
        min(created_at) as customer_since
    from {{ ref('int_customer_records__linked') }}
    group by customer_id
),

contactability as (
    select * from {{ ref('int_customers__contactability') }}
),

orders as (
    select
        customer_id,
        count(*) as orders,
        sum(case when status = 'cancelled' then 1 else 0 end) as cancelled_orders,
        min(order_date) as first_order_date
    from {{ ref('fct_orders') }}
    where customer_id is not null
    group by customer_id
),

purchases as (
    select * from {{ ref('int_customers__purchase_summary') }}
),

events as (
    select
        customer_id,
        count(*) as events,
        max(occurred_at) as last_event_at
    from {{ ref('fct_events') }}
    where customer_id is not null
    group by customer_id
),

linked_records as (
    select record_id, customer_id from {{ ref('int_customer_records__linked') }}
),

tickets as (
    select
        linked_records.customer_id,
        count(*) as service_tickets,
        sum(case when tickets.resolved_at is null then 1 else 0 end) as open_service_tickets,
        avg(cast(tickets.csat as double)) as avg_service_csat,
        max(tickets.created_at) as last_service_ticket_at
    from {{ ref('stg_silver__tickets') }} as tickets
    inner join linked_records
        on tickets.record_id = linked_records.record_id
    group by linked_records.customer_id
),

surveys_ranked as (
    select
        linked_records.customer_id,
        surveys.nps,
        surveys.submitted_at,
        row_number() over (
            partition by linked_records.customer_id order by surveys.submitted_at desc, surveys.response_id desc
        ) as recency_rank
    from {{ ref('stg_silver__survey_responses') }} as surveys
    inner join linked_records
        on surveys.record_id = linked_records.record_id
),

surveys as (
    select customer_id, nps as latest_nps, submitted_at as latest_survey_at
    from surveys_ranked
    where recency_rank = 1
),

social as (
    select
        linked_records.customer_id,
        count(*) as social_posts,
        max(posts.created_at) as last_social_post_at
    from {{ ref('stg_silver__social_posts') }} as posts
    inner join linked_records
        on posts.record_id = linked_records.record_id
    group by linked_records.customer_id
),

loyalty as (
    select * from {{ ref('loyalty_balance') }}
),

rfm as (
    select * from {{ ref('customer_rfm') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

tags as (
    select
        customer_id,
        {{ sorted_distinct_list('tag') }} as tags
    from {{ ref('customer_tags') }}
    group by customer_id
),

clv as (
    select * from {{ ref('customer_clv') }}
),

final as (
    select
        -- ids
        golden.customer_id,
        golden.member_id,
        records.record_count,
        records.sources,
        records.source_record_ids,
        -- golden profile
        golden.full_name,
        golden.given_name,
        golden.family_name,
        golden.name_pinyin,
        golden.date_of_birth,
        golden.gender,
        golden.email,
        golden.phone,
        golden.city,
        golden.region,
        golden.country,
        contactability.completeness_score,
        records.customer_since,
        -- consent
        golden.consent_email,
        golden.consent_sms,
        golden.consent_wechat,
        golden.consent_profiling,
        contactability.contact_channel,
        contactability.is_contactable,
        -- purchases
        coalesce(orders.orders, 0) as orders,
        coalesce(orders.cancelled_orders, 0) as cancelled_orders,
        coalesce(purchases.purchase_orders, 0) as purchase_orders,
        coalesce(purchases.total_spend, 0) as total_spend,
        purchases.avg_order_value,
        purchases.first_purchase_date,
        purchases.last_purchase_date,
        purchases.purchase_channels,
        -- engagement
        coalesce(events.events, 0) as web_events,
        events.last_event_at,
        coalesce(social.social_posts, 0) as social_posts,
        coalesce(tickets.service_tickets, 0) as service_tickets,
        coalesce(tickets.open_service_tickets, 0) as open_service_tickets,
        tickets.avg_service_csat,
        tickets.last_service_ticket_at,
        surveys.latest_nps,
        surveys.latest_survey_at,
        -- loyalty
        coalesce(loyalty.points_balance, 0) as points_balance,
        coalesce(loyalty.balance_value, 0) as points_balance_value,
        -- segments
        rfm.rfm_segment,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        lifecycle.lifecycle_state,
        lifecycle.state_since as lifecycle_state_since,
        tags.tags,
        -- value
        clv.predicted_purchases_12m,
        clv.predicted_value_12m,
        clv.probability_alive,
        clv.churn_risk_score,
        clv.churn_risk_band,
        lifecycle.as_of_date
    from golden
    left join records on golden.customer_id = records.customer_id
    left join contactability on golden.customer_id = contactability.customer_id
    left join orders on golden.customer_id = orders.customer_id
    left join purchases on golden.customer_id = purchases.customer_id
    left join events on golden.customer_id = events.customer_id
    left join tickets on golden.customer_id = tickets.customer_id
    left join surveys on golden.customer_id = surveys.customer_id
    left join social on golden.customer_id = social.customer_id
    left join loyalty on golden.customer_id = loyalty.customer_id
    left join rfm on golden.customer_id = rfm.customer_id
    left join lifecycle on golden.customer_id = lifecycle.customer_id
    left join tags on golden.customer_id = tags.customer_id
    left join clv on golden.customer_id = clv.customer_id
)

select * from final
