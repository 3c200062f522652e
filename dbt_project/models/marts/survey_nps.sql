{#- Net Promoter Score per month of response and touchpoint (the survey a store visit, a web order
    or a service contact sends), plus a row `all` per month, as of `int_calendar__as_of` like every
    mart: answers submitted by that day. NPS = share of promoters (9-10) minus share of detractors
    (0-6), in points -100..100, with its standard error and a `surveys.confidence_level` normal
    interval (var = p_promoter + p_detractor - (p_promoter - p_detractor)^2, over n responses).
    NPS is a share of customers, so a customer who answered the same touchpoint's survey more than
    once in a month counts once, with their latest answer (each answer is its own silver row: silver
    only merges re-deliveries of one response id). An answer without a usable score (unreadable,
    nulled on ingest, or outside 0-10) is no promoter, passive nor detractor: it is counted in
    `unscored_responses`, never silently left out. -#}
{%- set z = setting('surveys.z', 1.959964) -%}

with

responses as (
    select * from {{ ref('stg_silver__survey_responses') }}
),

linked_records as (
    select record_id, customer_id from {{ ref('int_customer_records__linked') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

known as (
    select
        responses.response_id,
        -- a response not (yet) resolved to a customer is its own respondent
        coalesce(linked_records.customer_id, responses.record_id, responses.response_id) as respondent,
        {{ month_start('responses.submitted_at') }} as month_start,
        coalesce(responses.touchpoint, 'unknown') as touchpoint,
        responses.submitted_at,
        case when responses.nps between 0 and 10 then responses.nps end as nps
    from responses
    cross join as_of
    left join linked_records
        on responses.record_id = linked_records.record_id
    where cast(responses.submitted_at as date) <= as_of.as_of_date
),

ranked as (
    select
        known.*,
        case
            when nps is not null
                then row_number() over (
                    partition by respondent, month_start, touchpoint, nps is null
                    order by submitted_at desc, response_id desc
                )
        end as answer_rank
    from known
),

-- every answer twice: under its touchpoint and under the month's `all`
grouped as (
    select month_start, touchpoint, nps, answer_rank from ranked
    union all
    select month_start, 'all' as touchpoint, nps, answer_rank from ranked
),

counted as (
    select
        month_start,
        touchpoint,
        -- answers
        sum(case when answer_rank = 1 then 1 else 0 end) as responses,
        sum(case when answer_rank = 1 and nps >= 9 then 1 else 0 end) as promoters,
        sum(case when answer_rank = 1 and nps between 7 and 8 then 1 else 0 end) as passives,
        sum(case when answer_rank = 1 and nps <= 6 then 1 else 0 end) as detractors,
        sum(case when answer_rank > 1 then 1 else 0 end) as duplicate_responses,
        sum(case when nps is null then 1 else 0 end) as unscored_responses
    from grouped
    group by month_start, touchpoint
),

shares as (
    select
        counted.*,
        cast(promoters as double) / nullif(responses, 0) as promoter_share,
        cast(detractors as double) / nullif(responses, 0) as detractor_share
    from counted
),

scored as (
    select
        shares.*,
        100 * (promoter_share - detractor_share) as nps,
        -- rounding can leave the variance a hair below 0 when every answer is alike
        100 * sqrt(
            greatest(
                promoter_share + detractor_share - (promoter_share - detractor_share) * (promoter_share - detractor_share),
                0
            )
            / nullif(responses, 0)
        ) as nps_standard_error
    from shares
),

final as (
    select
        -- grain
        month_start,
        touchpoint,
        -- answers
        responses,
        promoters,
        passives,
        detractors,
        duplicate_responses,
        unscored_responses,
        promoter_share,
        detractor_share,
        -- score
        nps,
        nps_standard_error,
        -- within -100..100 (greatest/least skip nulls: a month without a scored answer has no bounds)
        case when responses > 0 then greatest(nps - {{ z }} * nps_standard_error, -100) end as nps_ci_low,
        case when responses > 0 then least(nps + {{ z }} * nps_standard_error, 100) end as nps_ci_high
    from scored
)

select * from final
