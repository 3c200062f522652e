{#- The rows a data test looks at (dbt's `where` test config). One placeholder besides plain SQL:
    `__built_by_latest_build__` keeps the rows written by the table's latest build (`_built_at`
    equal to its greatest). An incremental fact rebuilt by key (`delete+insert` on `unique_key`,
    macros/incremental.sql) loses every old row of a key before the build writes that key again,
    so a duplicate key, or a null or unknown value, can only come from the rows the build wrote:
    a daily run tests the day's rows instead of scanning the whole history for each test. A full
    build (the first run, `--full-refresh`, a changed model) writes every row and so tests every
    row, and engines that build facts as plain tables (dbt-spark) do too. Tests across tables
    (`relationships`) keep looking at every row: an old row can lose its customer. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if '__built_by_latest_build__' in where -%}
        {%- set latest = '_built_at = (select max(_built_at) from ' ~ relation ~ ')' -%}
        {%- set where = where | replace('__built_by_latest_build__', latest) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
