{#- One row per customer with what dim_customer counts over the big tables: linked records, orders,
    web events, service tickets, survey answers and social posts. A table of its own so that dbt
    builds it beside the segment and CLV models dim_customer also waits for (at 1M people these
    aggregates over 21M events, 10M orders and 1.8M records were ~4 s of dim_customer's own time,
    the last model of a build). Like every figure the marts compute, the counts are as of
    `int_calendar__as_of` (orders, events, tickets, answers and posts up to that day; a ticket
    resolved after it is still open), so with a configured as-of date in the past `orders` never
    counts an order `purchase_orders` leaves out, and the linked records are those created by then. -#}
with

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

linked_records as (
    select record_id, customer_id, source, created_at
    from {{ ref('int_customer_records__linked') }}
),

records as (
    -- the records known on the as-of date (created by then, or undated); customer_since is the
    -- first of them all, so a customer first recorded later shows a date after the as-of date
    select
        linked_records.customer_id,
        sum(case when linked_records.known then 1 else 0 end) as record_count,
        {{ sorted_distinct_list('case when linked_records.known then linked_records.source end') }} as sources,
        {{ sorted_distinct_list('case when linked_records.known then linked_records.record_id end') }}
            as source_record_ids,
        min(linked_records.created_at) as customer_since
    from (
        select
            linked.*,
            linked.created_at is null or cast(linked.created_at as date) <= as_of.as_of_date as known
        from linked_records as linked
        cross join as_of
    ) as linked_records
    group by linked_records.customer_id
),

orders as (
    select
        customer_id,
        count(*) as orders,
        sum(case when status = 'cancelled' then 1 else 0 end) as cancelled_orders
    from {{ ref('fct_orders') }}
    cross join as_of
    where customer_id is not null
        and order_date <= as_of.as_of_date
    group by customer_id
),

events as (
    select
        customer_id,
        count(*) as web_events,
        max(occurred_at) as last_event_at
    from {{ ref('fct_events') }}
    cross join as_of
    where customer_id is not null
        and event_date <= as_of.as_of_date
    group by customer_id
),

tickets as (
    select
        linked_records.customer_id,
        count(*) as service_tickets,
        sum(
            case
                when tickets.resolved_at is null or cast(tickets.resolved_at as date) > as_of.as_of_date then 1
                else 0
            end
        ) as open_service_tickets,
        -- a rating is given once the ticket is resolved (as in service_kpis): none yet after the as-of date
        avg(
            case when cast(tickets.resolved_at as date) > as_of.as_of_date then null else cast(tickets.csat as double) end
        ) as avg_service_csat,
        max(tickets.created_at) as last_service_ticket_at
    from {{ ref('stg_silver__tickets') }} as tickets
    inner join linked_records
        on tickets.record_id = linked_records.record_id
    cross join as_of
    where cast(tickets.created_at as date) <= as_of.as_of_date
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
    cross join as_of
    where cast(surveys.submitted_at as date) <= as_of.as_of_date
),

surveys as (
    select customer_id, nps as latest_nps, submitted_at as latest_survey_at
    from surveys_ranked
    where recency_rank = 1
),

social as (
    select
        linked_records.customer_id,
        count(*) as social_posts
    from {{ ref('stg_silver__social_posts') }} as posts
    inner join linked_records
        on posts.record_id = linked_records.record_id
    cross join as_of
    where cast(posts.created_at as date) <= as_of.as_of_date
    group by linked_records.customer_id
),

final as (
    select
        records.customer_id,
        records.record_count,
        records.sources,
        records.source_record_ids,
        records.customer_since,
        coalesce(orders.orders, 0) as orders,
        coalesce(orders.cancelled_orders, 0) as cancelled_orders,
        coalesce(events.web_events, 0) as web_events,
        events.last_event_at,
        coalesce(social.social_posts, 0) as social_posts,
        coalesce(tickets.service_tickets, 0) as service_tickets,
        coalesce(tickets.open_service_tickets, 0) as open_service_tickets,
        tickets.avg_service_csat,
        tickets.last_service_ticket_at,
        surveys.latest_nps,
        surveys.latest_survey_at
    from records
    left join orders on records.customer_id = orders.customer_id
    left join events on records.customer_id = events.customer_id
    left join tickets on records.customer_id = tickets.customer_id
    left join surveys on records.customer_id = surveys.customer_id
    left join social on records.customer_id = social.customer_id
)

select * from final
