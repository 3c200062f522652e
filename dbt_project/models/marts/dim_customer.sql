{#- The 360° profile: one row per resolved customer with the golden attributes, every linked
    source record, purchases, channels, service, survey, social and loyalty summaries, consent,
    and the segment, lifecycle state, tags and CLV from the other marts. The counts over the big
    tables come ready from int_customers__activity, built while the segments are. Every customer
    has a row (the facts and identity links name them all); one first recorded after the as-of
    date (int_customers__known) was not known yet then: customer_since after as_of_date, no
    lifecycle state, counts of zero. -#}
with

golden as (
    select * from {{ ref('stg_identity__golden_customer') }}
),

activity as (
    select * from {{ ref('int_customers__activity') }}
),

contactability as (
    select * from {{ ref('int_customers__contactability') }}
),

purchases as (
    select * from {{ ref('int_customers__purchase_summary') }}
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

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

final as (
    select
        -- ids
        golden.customer_id,
        golden.member_id,
        activity.record_count,
        activity.sources,
        activity.source_record_ids,
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
        activity.customer_since,
        -- consent
        golden.consent_email,
        golden.consent_sms,
        golden.consent_wechat,
        golden.consent_profiling,
        contactability.contact_channel,
        contactability.is_contactable,
        -- purchases
        coalesce(activity.orders, 0) as orders,
        coalesce(activity.cancelled_orders, 0) as cancelled_orders,
        coalesce(purchases.purchase_orders, 0) as purchase_orders,
        coalesce(purchases.total_spend, 0) as total_spend,
        purchases.avg_order_value,
        purchases.first_purchase_date,
        purchases.last_purchase_date,
        purchases.purchase_channels,
        -- engagement
        coalesce(activity.web_events, 0) as web_events,
        activity.last_event_at,
        coalesce(activity.social_posts, 0) as social_posts,
        coalesce(activity.service_tickets, 0) as service_tickets,
        coalesce(activity.open_service_tickets, 0) as open_service_tickets,
        activity.avg_service_csat,
        activity.last_service_ticket_at,
        activity.latest_nps,
        activity.latest_survey_at,
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
        as_of.as_of_date
    from golden
    cross join as_of
    left join activity on golden.customer_id = activity.customer_id
    left join contactability on golden.customer_id = contactability.customer_id
    left join purchases on golden.customer_id = purchases.customer_id
    left join loyalty on golden.customer_id = loyalty.customer_id
    left join rfm on golden.customer_id = rfm.customer_id
    left join lifecycle on golden.customer_id = lifecycle.customer_id
    left join tags on golden.customer_id = tags.customer_id
    left join clv on golden.customer_id = clv.customer_id
)

select * from final
