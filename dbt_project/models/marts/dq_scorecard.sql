{#- Quality per run, layer, source, dimension and scope from the quality gate's results, with the
    run's metrics for that source alongside. Empty (but built) until the quality gate has run.
    A daily gate judges the event-scale tables' rows added since the last passing gate (`changed`)
    and the rest whole (`full`): the two are scored apart, so the day's increment is never read
    as the score of the whole layer. -#}
with

results as (
    select * from {{ ref('stg_quality__dq_results') }}
),

metrics as (
    select * from {{ ref('stg_quality__dq_metrics') }}
),

latest_run as (
    select run_id from results
    order by checked_at desc, run_id desc
    limit 1
),

scoped as (
    -- results written before `scope` existed judged whole tables
    select *, coalesce(scope, 'full') as judged_scope from results
),

scored as (
    select
        run_id,
        layer,
        source,
        dimension,
        judged_scope as scope,
        max(checked_at) as checked_at,
        count(*) as expectations,
        sum(case when success then 0 else 1 end) as failed_expectations,
        sum(case when not success and severity = 'critical' then 1 else 0 end) as critical_failures,
        sum(checked_rows) as checked_rows,
        sum(passed_rows) as passed_rows
    from scoped
    group by run_id, layer, source, dimension, judged_scope
),

source_metrics as (
    select
        run_id,
        source,
        max(case when metric = 'duplicate_rate_before' then metric_value end) as duplicate_rate_before,
        max(case when metric = 'duplicate_rate_after' then metric_value end) as duplicate_rate_after,
        max(case when metric = 'freshness_hours' then metric_value end) as freshness_hours
    from metrics
    group by run_id, source
),

layer_rows as (
    -- rows of the source's tables in one layer (the scorecard itself is no data of a source);
    -- metrics measured before `layer` was recorded count for every layer
    select
        run_id,
        layer,
        source,
        sum(metric_value) as row_count
    from metrics
    where metric = 'row_count' and entity <> 'dq_scorecard'
    group by run_id, layer, source
),

final as (
    select
        scored.run_id,
        scored.layer,
        scored.source,
        scored.dimension,
        scored.scope,
        scored.checked_at,
        scored.expectations,
        scored.failed_expectations,
        scored.critical_failures,
        scored.checked_rows,
        scored.passed_rows,
        cast(scored.passed_rows as double) / nullif(scored.checked_rows, 0) as score,
        latest_run.run_id is not null as is_latest_run,
        source_metrics.duplicate_rate_before,
        source_metrics.duplicate_rate_after,
        source_metrics.freshness_hours,
        layer_rows.row_count
    from scored
    left join latest_run
        on scored.run_id = latest_run.run_id
    left join source_metrics
        on scored.run_id = source_metrics.run_id
        and scored.source = source_metrics.source
    left join layer_rows
        on scored.run_id = layer_rows.run_id
        and scored.source = layer_rows.source
        and (scored.layer = layer_rows.layer or layer_rows.layer is null)
)

select * from final
