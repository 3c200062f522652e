{#- Service performance per channel and week of ticket creation. Promise shares count every ticket
    of the week: one not yet answered or resolved counts as outside the promise. As of
    `int_calendar__as_of`, like every mart: tickets opened by that day, and a response, resolution
    or rating after it not yet given (with a configured as-of date in the past, the later weeks and
    answers are not known yet). -#}
{%- set response_hours = setting('service.first_response_promise_hours', 24) -%}
{%- set resolution_hours = setting('service.resolution_promise_hours', 48) -%}

with

tickets as (
    select * from {{ ref('stg_silver__tickets') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

known as (
    select
        tickets.ticket_id,
        tickets.channel,
        tickets.contacts,
        tickets.created_at,
        case
            when cast(tickets.first_response_at as date) <= as_of.as_of_date then tickets.first_response_at
        end as first_response_at,
        case when cast(tickets.resolved_at as date) <= as_of.as_of_date then tickets.resolved_at end as resolved_at,
        -- a rating is given once the ticket is resolved: none yet while that lies after the as-of date
        case when cast(tickets.resolved_at as date) > as_of.as_of_date then null else tickets.csat end as csat
    from tickets
    cross join as_of
    where cast(tickets.created_at as date) <= as_of.as_of_date
),

timed as (
    select
        ticket_id,
        channel,
        contacts,
        csat,
        {{ week_start('created_at') }} as week_start,
        resolved_at is not null as is_resolved,
        first_response_at is not null as is_responded,
        {{ hours_between('created_at', 'first_response_at') }} as first_response_hours,
        {{ hours_between('created_at', 'resolved_at') }} as resolution_hours
    from known
),

final as (
    select
        week_start,
        channel,
        -- volume
        count(*) as tickets,
        sum(case when is_responded then 1 else 0 end) as responded_tickets,
        sum(case when is_resolved then 1 else 0 end) as resolved_tickets,
        -- first response
        avg(first_response_hours) as avg_first_response_hours,
        {{ median('first_response_hours') }} as median_first_response_hours,
        sum(case when first_response_hours <= {{ response_hours }} then 1 else 0 end) as responded_within_promise,
        cast(sum(case when first_response_hours <= {{ response_hours }} then 1 else 0 end) as double)
            / count(*) as first_response_promise_share,
        -- resolution
        avg(resolution_hours) as avg_resolution_hours,
        {{ median('resolution_hours') }} as median_resolution_hours,
        sum(case when resolution_hours <= {{ resolution_hours }} then 1 else 0 end) as resolved_within_promise,
        cast(sum(case when resolution_hours <= {{ resolution_hours }} then 1 else 0 end) as double)
            / count(*) as resolution_promise_share,
        -- first-contact resolution, of the resolved tickets whose contact count is known: a count left
        -- empty or unreadable (nulled on ingest) is neither a first-contact resolution nor a repeat one
        sum(case when is_resolved and contacts = 1 then 1 else 0 end) as first_contact_resolutions,
        cast(sum(case when is_resolved and contacts = 1 then 1 else 0 end) as double)
            / nullif(sum(case when is_resolved and contacts is not null then 1 else 0 end), 0)
            as first_contact_resolution_rate,
        -- satisfaction
        count(csat) as csat_responses,
        avg(cast(csat as double)) as avg_csat,
        cast(sum(case when csat >= {{ setting('service.satisfied_csat_from', 4) }} then 1 else 0 end) as double)
            / nullif(count(csat), 0) as csat_satisfied_share,
        -- promises (double like the measured hours: a bare literal's type would follow the configured
        -- number, decimal(3,1) for 24.0 but decimal(4,1) for 168.0, and change the published schema)
        cast({{ response_hours }} as double) as first_response_promise_hours,
        cast({{ resolution_hours }} as double) as resolution_promise_hours
    from timed
    group by week_start, channel
)

select * from final
