{#- Deterministic A/B assignment for every campaign in `experiments.campaigns`: the audience is
    the contactable customers whose lifecycle state on the campaign's start date is one of
    `audience_states` (any state when empty); each customer's arm follows from
    md5(campaign id || ':' || customer id) in `experiments.hash_buckets` buckets split by the
    arms' weights, so re-running never moves anyone between arms. A campaign starting after the
    as-of date has no assignments yet (a backfill for a day before it started). -#}
{%- set campaigns = setting('experiments.campaigns', []) -%}
{%- set buckets = setting('experiments.hash_buckets', 10000) -%}

{%- if campaigns | length == 0 %}

select
    cast(null as {{ dbt.type_string() }}) as campaign_id,
    cast(null as {{ dbt.type_string() }}) as customer_id,
    cast(null as {{ dbt.type_string() }}) as arm,
    cast(null as bigint) as hash_bucket,
    cast(null as {{ dbt.type_string() }}) as state_at_start,
    cast(null as date) as starts_on
where 1 = 0

{%- else %}

with

campaign_arms as (
    {%- for campaign in campaigns %}
    {%- set total = campaign.arms | sum(attribute='weight') %}
    {%- set ns = namespace(lower=0.0) %}
    {%- for arm in campaign.arms %}
    {%- set upper = buckets if loop.last else (ns.lower + buckets * arm.weight / total) | round | int %}
    select
        '{{ campaign.id }}' as campaign_id,
        cast('{{ campaign.starts_on }}' as date) as starts_on,
        '{{ arm.name }}' as arm,
        {{ ns.lower | int }} as lower_bucket,
        {{ upper }} as upper_bucket
    {%- set ns.lower = upper %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

campaign_states as (
    {%- for campaign in campaigns %}
    {%- if campaign.audience_states %}
    {%- for state in campaign.audience_states %}
    select '{{ campaign.id }}' as campaign_id, '{{ state }}' as lifecycle_state
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- else %}
    {%- for state in ['potential', 'new', 'active', 'dormant', 'churned'] %}
    select '{{ campaign.id }}' as campaign_id, '{{ state }}' as lifecycle_state
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- endif %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

campaigns as (
    -- a campaign that has not started by the as-of date assigns no one yet: the state on its start
    -- date is not known (the lifecycle history ends on the as-of date, its last state open-ended)
    select distinct campaign_arms.campaign_id, campaign_arms.starts_on
    from campaign_arms
    cross join as_of
    where campaign_arms.starts_on <= as_of.as_of_date
),

history as (
    select * from {{ ref('customer_lifecycle_history') }}
),

contactable as (
    select customer_id from {{ ref('int_customers__contactability') }}
    where is_contactable
),

audience as (
    select
        campaigns.campaign_id,
        campaigns.starts_on,
        history.customer_id,
        history.lifecycle_state as state_at_start
    from campaigns
    inner join history
        on history.valid_from <= campaigns.starts_on
        and (history.valid_to is null or history.valid_to > campaigns.starts_on)
    inner join campaign_states
        on campaigns.campaign_id = campaign_states.campaign_id
        and history.lifecycle_state = campaign_states.lifecycle_state
    inner join contactable
        on history.customer_id = contactable.customer_id
),

bucketed as (
    select
        audience.*,
        {{ hash_bucket("audience.campaign_id || ':' || audience.customer_id", buckets) }} as hash_bucket
    from audience
),

final as (
    select
        bucketed.campaign_id,
        bucketed.customer_id,
        campaign_arms.arm,
        cast(bucketed.hash_bucket as bigint) as hash_bucket,
        bucketed.state_at_start,
        bucketed.starts_on
    from bucketed
    inner join campaign_arms
        on bucketed.campaign_id = campaign_arms.campaign_id
        and bucketed.hash_bucket >= campaign_arms.lower_bucket
        and bucketed.hash_bucket < campaign_arms.upper_bucket
)

select * from final

{%- endif %}
