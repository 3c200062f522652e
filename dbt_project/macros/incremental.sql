{#- Incremental facts for the daily run (DuckDB). `int_orders__deduplicated`, `fct_order_lines`,
    `fct_orders` and `fct_events` keep what the previous build wrote and rebuild only the keys that
    changed since: new or corrected silver rows, rows whose customer changed (identity merges and
    splits), rows gone from silver. Silver order lines and events carry no lineage column, so
    "changed" is decided by content: a hash of the columns a fact
    keeps, compared with the same hash of the rows the table holds (a scan and a join, no rewrite).

    A table is only continued when it was built by this very project and settings: its comment
    holds the fingerprint of every model, macro and `marts:` setting (and when it was built), so
    a changed rule (`purchase_statuses`) or model rebuilds it in full, as the first run and
    `--full-refresh` do. The build database is deleted by an erasure, so the next run is full too.
    Other engines (dbt-spark) build these models as plain tables. -#}

{#- 'incremental' on DuckDB, 'table' elsewhere (read in config(), at parse time). -#}
{% macro fact_materialization() -%}
    {{ return(adapter.dispatch('fact_materialization', 'cdp')()) }}
{%- endmacro %}
{% macro default__fact_materialization() -%}
    {{ return('table') }}
{%- endmacro %}
{% macro duckdb__fact_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{#- The config of an incremental fact keyed on `unique_key`: its pre-hook keeps only the rows whose
    key is still in the model `upstream` (see start_incremental_fact), its post-hook records the
    build. One declaration for the four facts. -#}
{% macro fact_config(unique_key, upstream, unchanged_since_built=false) -%}
    {%- set since = ', unchanged_since_built=true' if unchanged_since_built else '' -%}
    {{ return({
        'materialized': cdp.fact_materialization(),
        'unique_key': unique_key,
        'incremental_strategy': 'delete+insert',
        'on_schema_change': 'sync_all_columns',
        'pre_hook': "{{ cdp.start_incremental_fact('" ~ unique_key ~ "', ref('" ~ upstream ~ "')" ~ since ~ ") }}",
        'post_hook': '{{ cdp.finish_incremental_fact() }}',
    }) }}
{%- endmacro %}

{#- Hash of everything a fact's rows depend on besides the data: every model and macro of this
    project and the business settings (the `cdp` var). -#}
{% macro project_fingerprint() -%}
    {%- set parts = [tojson(var('cdp', {}))] -%}
    {%- for unique_id in graph.nodes.keys() | sort -%}
        {%- set node = graph.nodes[unique_id] -%}
        {%- if node.resource_type == 'model' and node.package_name == project_name -%}
            {%- do parts.append(unique_id ~ '\n' ~ node.raw_code) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set macros = context[project_name] -%}
    {%- for name in macros.keys() | sort -%}
        {%- do parts.append(name ~ '\n' ~ macros[name].macro.macro_sql) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('\n'))) }}
{%- endmacro %}

{#- What the table's comment says about its last build: {fingerprint, built_at}, or none. -#}
{% macro built_state(relation) -%}
    {%- set query -%}
        select comment from duckdb_tables()
        where database_name = '{{ relation.database }}'
            and schema_name = '{{ relation.schema }}'
            and table_name = '{{ relation.identifier }}'
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if rows | length == 0 or not rows[0][0] or not rows[0][0].startswith('{') -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(fromjson(rows[0][0])) }}
{%- endmacro %}

{#- True when this run continues the table: dbt's is_incremental() (it exists, no --full-refresh)
    and its last build had this project's fingerprint. -#}
{% macro incremental_fact() -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set state = cdp.built_state(this) -%}
    {{ return(state is not none and state.get('fingerprint') == cdp.project_fingerprint()) }}
{%- endmacro %}

{#- The rows of `rows` (a CTE) this build writes: on a continued run only those whose `key` is in
    `keys` (a CTE of the keys to rebuild), otherwise all of them. -#}
{% macro rows_to_build(rows, keys, key) -%}
    {%- if cdp.incremental_fact() -%}
    select {{ rows }}.*
    from {{ rows }}
    inner join {{ keys }}
        on {{ rows }}.{{ key }} = {{ keys }}.{{ key }}
    {%- else -%}
    select * from {{ rows }}
    {%- endif -%}
{%- endmacro %}

{#- When the table was last built (a timestamp literal): rows of an upstream fact written later
    are the ones to rebuild. -#}
{% macro last_built_at() -%}
    cast('{{ cdp.built_state(this).get('built_at') }}' as timestamp)
{%- endmacro %}

{#- This run's start, the `_built_at` of every row it writes (UTC, naive like the lake). -#}
{% macro run_started() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- One 64-bit hash of a row's columns (nulls included), for comparing content. DuckDB's `hash`:
    only continued (incremental, DuckDB-only) runs call it. -#}
{% macro row_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{#- The keys (`key`) whose rows differ between `new` and `old` (CTE names or relations), compared
    on `columns`: keys with rows only in one of them are new, corrected or gone. -#}
{% macro changed_keys(new, old, key, columns) -%}
    select coalesce(new_rows.{{ key }}, old_rows.{{ key }}) as {{ key }}
    from (select {{ key }}, {{ cdp.row_hash(columns) }} as row_hash from {{ new }}) as new_rows
    full outer join (select {{ key }}, {{ cdp.row_hash(columns) }} as row_hash from {{ old }}) as old_rows
        on new_rows.{{ key }} = old_rows.{{ key }}
        and new_rows.row_hash = old_rows.row_hash
    where new_rows.{{ key }} is null
        or old_rows.{{ key }} is null
{%- endmacro %}

{#- Pre-hook of an incremental fact: a table built by another fingerprint is emptied (the model
    then selects every row); a continued one keeps only the rows whose `key` is still in `upstream`
    (with `unchanged_since_built`: among its rows written before this table was last built), so
    keys gone upstream disappear and rebuilt keys lose every old row, even when none replaces it. -#}
{% macro start_incremental_fact(key, upstream, unchanged_since_built=false) -%}
    {{ return(adapter.dispatch('start_incremental_fact', 'cdp')(key, upstream, unchanged_since_built)) }}
{%- endmacro %}
{% macro default__start_incremental_fact(key, upstream, unchanged_since_built) -%}
{%- endmacro %}
{% macro duckdb__start_incremental_fact(key, upstream, unchanged_since_built) -%}
    {%- if execute and is_incremental() -%}
        {%- if cdp.incremental_fact() -%}
            delete from {{ this }}
            where {{ key }} not in (
                select {{ key }} from {{ upstream }}
                {%- if unchanged_since_built %} where _built_at <= {{ cdp.last_built_at() }}{% endif %}
            )
        {%- else -%}
            delete from {{ this }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: record the fingerprint and start of the build that the table now reflects (in the
    same transaction as its rows). -#}
{% macro finish_incremental_fact() -%}
    {{ return(adapter.dispatch('finish_incremental_fact', 'cdp')()) }}
{%- endmacro %}
{% macro default__finish_incremental_fact() -%}
{%- endmacro %}
{% macro duckdb__finish_incremental_fact() -%}
    {%- if execute -%}
        {%- set state = {
            'fingerprint': cdp.project_fingerprint(),
            'built_at': run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f'),
        } -%}
        comment on table {{ this }} is '{{ tojson(state) }}'
    {%- endif -%}
{%- endmacro %}
