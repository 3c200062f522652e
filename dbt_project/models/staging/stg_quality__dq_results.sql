{#- Empty until the quality gate has written lake/quality/dq_results (docs/data_model.md 6). -#}
{%- set documented_shape = {
    'run_id': 'varchar', 'checked_at': 'timestamp', 'layer': 'varchar', 'suite': 'varchar',
    'source': 'varchar', 'entity': 'varchar', 'dimension': 'varchar', 'expectation': 'varchar',
    'column': 'varchar', 'severity': 'varchar', 'checked': 'bigint', 'passed': 'bigint',
    'success': 'boolean', 'score': 'double', 'details': 'varchar', 'scope': 'varchar',
} -%}
{#- `scope` is optional: results written before it existed have no such column (they judged whole
    tables; the scorecard reads a missing scope as `full`). -#}
{%- set results = lake_source('quality', 'dq_results', empty_if_missing=documented_shape) -%}
{%- set has_scope = not execute or results is string
    or 'scope' in adapter.get_columns_in_relation(results) | map(attribute='name') | map('lower') | list -%}

with

source as (
    select * from {{ results }} as results
),

renamed as (
    select
        -- ids
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(layer as {{ dbt.type_string() }}) as layer,
        cast(suite as {{ dbt.type_string() }}) as suite,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(entity as {{ dbt.type_string() }}) as entity,
        cast(dimension as {{ dbt.type_string() }}) as dimension,
        cast(expectation as {{ dbt.type_string() }}) as expectation,
        cast({{ adapter.quote('column') }} as {{ dbt.type_string() }}) as column_name,
        cast(severity as {{ dbt.type_string() }}) as severity,
        cast({{ 'scope' if has_scope else 'null' }} as {{ dbt.type_string() }}) as scope,
        -- outcome
        cast(checked as bigint) as checked_rows,
        cast(passed as bigint) as passed_rows,
        cast(success as boolean) as success,
        cast(score as double) as score,
        -- dates
        cast(checked_at as timestamp) as checked_at
    from source
)

select * from renamed
