{#- Empty until the quality gate has written lake/quality/dq_metrics (docs/data_model.md 6). -#}
{%- set documented_shape = {
    'run_id': 'varchar', 'measured_at': 'timestamp', 'metric': 'varchar', 'source': 'varchar',
    'entity': 'varchar', 'value': 'double', 'layer': 'varchar',
} -%}
{#- `layer` (the gate that measured the metric) is optional: metrics written before it existed
    have no such column (the scorecard then reads their row counts for every layer). -#}
{%- set metrics = lake_source('quality', 'dq_metrics', empty_if_missing=documented_shape) -%}
{%- set has_layer = not execute or metrics is string
    or 'layer' in adapter.get_columns_in_relation(metrics) | map(attribute='name') | map('lower') | list -%}

with

source as (
    select * from {{ metrics }} as metrics
),

renamed as (
    select
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(metric as {{ dbt.type_string() }}) as metric,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(entity as {{ dbt.type_string() }}) as entity,
        cast({{ 'layer' if has_layer else 'null' }} as {{ dbt.type_string() }}) as layer,
        cast(value as double) as metric_value,
        cast(measured_at as timestamp) as measured_at
    from source
)

select * from renamed
