{#- Empty until the quality gate has written lake/quality/dq_metrics (docs/data_model.md 6). -#}
{%- set documented_shape = {
    'run_id': 'varchar', 'measured_at': 'timestamp', 'metric': 'varchar', 'source': 'varchar',
    'entity': 'varchar', 'value': 'double',
} -%}

with

source as (
    select * from {{ lake_source('quality', 'dq_metrics', empty_if_missing=documented_shape) }} as metrics
),

renamed as (
    select
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(metric as {{ dbt.type_string() }}) as metric,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(entity as {{ dbt.type_string() }}) as entity,
        cast(value as double) as metric_value,
        cast(measured_at as timestamp) as measured_at
    from source
)

select * from renamed
