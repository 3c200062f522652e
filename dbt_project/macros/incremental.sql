{#- Incremental facts for the daily run (DuckDB). `int_orders__deduplicated`, `fct_order_lines`,
    `fct_orders` and `fct_events` keep what the previous build wrote and rebuild only the keys that
    changed since: new or corrected silver rows, rows whose customer changed (identity merges and
    splits), rows gone from silver.

    "Changed" comes from the lake's lineage: silver is written in Delta commits that add new rows
    in new data files and rewrite only the files that hold merged or deleted rows, so every key
    whose rows changed is in a data file added or removed since the fact was built. A fact records
    the data files of its silver tables when it is built (`lake_files.data_files`, listed by the
    lake plugin), and the next build reads just the keys of the files that differ: a few files on a
    daily run, not a hash of every row; rows a rewrite only copied (compaction, a merge's
    neighbours in a rewritten file) are in an added and a removed file alike and cancel out.
    Where the lineage is not at hand (a table not read as plain Parquet, replaced files already
    vacuumed, a table built before) the keys are found by content: a hash of the columns a fact keeps, compared with the same hash of
    the rows the table holds.

    A table is only continued when it was built by the same code and settings: its comment holds
    the fingerprint of its lineage (its model and every model upstream, the macros and `marts:`
    settings; `lineage_fingerprint`), when it was built and from which files, so a changed rule
    (`purchase_statuses`) or upstream model rebuilds it in full, as the first run and
    `--full-refresh` do, while a change downstream or beside it does not. The build database is
    deleted by an erasure, so the next run is full too. Other engines (dbt-spark) build these
    models as plain tables. -#}

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

{#- The config of an incremental fact keyed on `unique_key` (a column, or a list of them): its
    pre-hook keeps only the rows whose key is still in the model `upstream` (see
    start_incremental_fact; none: a key is never removed, as in `int_identity_keys__owners`), its
    post-hook records the build and the data files of `lake_tables` ('layer.table') it was built
    from. One declaration for the incremental facts. -#}
{% macro fact_config(unique_key, upstream, unchanged_since_built=false, lake_tables=[], as_of=false) -%}
    {%- set since = (', unchanged_since_built=true' if unchanged_since_built else '') ~ ', lake_tables=' ~ tojson(lake_tables) -%}
    {%- set kept_in = "ref('" ~ upstream ~ "')" if upstream is not none else 'none' -%}
    {{ return({
        'materialized': cdp.fact_materialization(),
        'unique_key': unique_key,
        'incremental_strategy': 'delete+insert',
        'on_schema_change': 'sync_all_columns',
        'pre_hook': "{{ cdp.start_incremental_fact(" ~ tojson(unique_key) ~ ", " ~ kept_in ~ since ~ ") }}",
        'post_hook': '{{ cdp.finish_incremental_fact(' ~ tojson(lake_tables) ~ ', ' ~ tojson(as_of) ~ ') }}',
    }) }}
{%- endmacro %}

{#- The `key_type` ('record', 'device') key values whose owner changed since this table was last
    built (`int_identity_keys__owners`), as a subquery for `in (...)`: the keys whose rows a fact
    attached to a customer must rebuild. -#}
{% macro keys_with_new_owner(key_type) -%}
    select key_value from {{ ref('int_identity_keys__owners') }}
    where key_type = '{{ key_type }}' and _built_at > {{ cdp.last_built_at() }}
{%- endmacro %}

{#- Hash of everything the rows of the model being built depend on besides the data: its code and
    that of every model upstream of it, every macro of this project and the business settings (the
    `cdp` var). A change elsewhere (a new mart, a fix in dim_customer) leaves it as it was, so a
    deploy rebuilds in full only the incremental tables whose lineage it touched. -#}
{% macro lineage_fingerprint() -%}
    {%- set parts = [tojson(var('cdp', {}))] -%}
    {%- set lineage = [model.unique_id] -%}
    {%- set walk = namespace(frontier=[model.unique_id]) -%}
    {%- for _ in range(graph.nodes | length) if walk.frontier -%}
        {%- set parents = [] -%}
        {%- for unique_id in walk.frontier -%}
            {%- for parent in graph.nodes[unique_id].depends_on.nodes
                if parent in graph.nodes and parent not in lineage -%}
                {%- do lineage.append(parent) -%}
                {%- do parents.append(parent) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- set walk.frontier = parents -%}
    {%- endfor -%}
    {%- for unique_id in lineage | sort -%}
        {%- set node = graph.nodes[unique_id] -%}
        {%- do parts.append(unique_id ~ '\n' ~ node.raw_code ~ '\n' ~ node.checksum.checksum) -%}
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
    and its last build had its lineage's fingerprint. -#}
{% macro incremental_fact() -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set state = cdp.built_state(this) -%}
    {{ return(state is not none and state.get('fingerprint') == cdp.lineage_fingerprint()) }}
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

{#- The data files of lake table `layer`.`table` as the lake plugin lists them: {root, current
    (the files of its current version, relative to root), replaced (files on disk it no longer
    references)}, or none when it is not read as plain Parquet files. -#}
{% macro lake_data_files(layer, table) -%}
    {%- set query -%}
        select root, file, current from lake_files.data_files
        where layer = '{{ layer }}' and table_name = '{{ table }}'
        order by file
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- set found = {'root': none, 'current': [], 'replaced': []} -%}
    {%- for row in rows -%}
        {%- do found.update({'root': row[0]}) -%}
        {%- do found['current' if row[2] else 'replaced'].append(row[1]) -%}
    {%- endfor -%}
    {{ return(found if found['current'] else none) }}
{%- endmacro %}

{#- The data files of lake table `layer`.`table` added and removed (full paths) since this table
    was built: {added, removed}, or none when that lineage is not at hand (not recorded, not plain
    Parquet, or a removed file already vacuumed, so its rows are unknown). -#}
{% macro lake_lineage(layer, table) -%}
    {%- set built = ((cdp.built_state(this) or {}).get('lake_files') or {}).get(layer ~ '.' ~ table) -%}
    {%- set files = cdp.lake_data_files(layer, table) if built is not none else none -%}
    {%- if files is none
        or built | reject('in', files['current']) | reject('in', files['replaced']) | list | length > 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set lineage = {'added': [], 'removed': []} -%}
    {%- for file in files['current'] if file not in built -%}
        {%- do lineage['added'].append(files['root'] ~ '/' ~ file) -%}
    {%- endfor -%}
    {%- for file in built if file not in files['current'] -%}
        {%- do lineage['removed'].append(files['root'] ~ '/' ~ file) -%}
    {%- endfor -%}
    {{ return(lineage) }}
{%- endmacro %}

{#- The keys (`key`) of lake table `layer`.`table` whose rows (compared on `columns`) changed since
    this table was built: the rows of its data files added since that the files removed since do
    not hold, and the other way round (see the top of this file); rows a rewrite merely copied
    (a merge's neighbours, a compaction) cancel out. `lake_columns`: lake columns compared too
    (lineage the model orders by, e.g. `_batch_id`). Without that lineage, the keys whose rows
    differ between `new` and `old` on `columns` (changed_keys). -#}
{% macro lake_changed_keys(layer, table, key, new, old, columns, lake_columns=[]) -%}
    {%- set lineage = cdp.lake_lineage(layer, table) -%}
    {%- set added, removed = (lineage or {}).get('added', []), (lineage or {}).get('removed', []) -%}
    {%- if lineage is none -%}
    {{ cdp.changed_keys(new, old, key, columns) }}
    {%- elif added or removed -%}
    -- rows in the added files and not in the removed ones, or the other way round
    select {{ key }}
    from (
        select
            cast({{ key }} as varchar) as {{ key }},
            {{ cdp.row_hash(columns + lake_columns) }} as row_hash,
            sum(case when _lake_file in ('{{ (added or ['']) | join("', '") }}') then 1 else -1 end) as copies
        from read_parquet(['{{ (added + removed) | join("', '") }}'], union_by_name = true, filename = '_lake_file')
        group by all
    )
    where copies != 0
    {%- else -%}
    select cast(null as varchar) as {{ key }} where false
    {%- endif -%}
{%- endmacro %}

{#- False when the lineage shows that no data file of `lake_tables` was removed since this table
    was built (the lake was only appended to), true otherwise. -#}
{% macro lake_files_removed(lake_tables) -%}
    {%- for name in lake_tables -%}
        {%- set parts = name.split('.') -%}
        {%- set lineage = cdp.lake_lineage(parts[0], parts[1]) -%}
        {%- if lineage is none or lineage['removed'] -%}
            {{ return(true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}

{#- Pre-hook of an incremental fact: a table built by another fingerprint is emptied (the model
    then selects every row); a continued one keeps only the rows whose `key` is still in `upstream`
    (with `unchanged_since_built`: among its rows written before this table was last built), so
    keys gone upstream disappear and rebuilt keys lose every old row, even when none replaces it.
    When the lineage of its `lake_tables` shows they were only appended to since, no key can be
    gone and every rebuilt key has rows again: that scan is skipped (at 1M people, an anti-join of
    the 19M order lines or 10M orders with the 10M orders). Without an `upstream` no key is ever
    gone (`int_identity_keys__owners`). -#}
{% macro start_incremental_fact(key, upstream, unchanged_since_built=false, lake_tables=[]) -%}
    {{ return(adapter.dispatch('start_incremental_fact', 'cdp')(key, upstream, unchanged_since_built, lake_tables)) }}
{%- endmacro %}
{% macro default__start_incremental_fact(key, upstream, unchanged_since_built, lake_tables) -%}
{%- endmacro %}
{% macro duckdb__start_incremental_fact(key, upstream, unchanged_since_built, lake_tables) -%}
    {%- if execute and is_incremental() -%}
        {%- if cdp.incremental_fact() and upstream is none -%}
            {#- keys are never removed -#}
        {%- elif cdp.incremental_fact() and lake_tables and not cdp.lake_files_removed(lake_tables) -%}
            {#- only appended to since: no key can be gone, every rebuilt key has rows again -#}
        {%- elif cdp.incremental_fact() -%}
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
    same transaction as its rows); with `as_of`, also the as-of date it was computed at. -#}
{% macro finish_incremental_fact(lake_tables=[], as_of=false) -%}
    {{ return(adapter.dispatch('finish_incremental_fact', 'cdp')(lake_tables, as_of)) }}
{%- endmacro %}
{% macro default__finish_incremental_fact(lake_tables, as_of) -%}
{%- endmacro %}
{% macro duckdb__finish_incremental_fact(lake_tables, as_of) -%}
    {%- if execute -%}
        {%- set lake_files = {} -%}
        {%- for name in lake_tables -%}
            {%- set parts = name.split('.') -%}
            {%- set files = cdp.lake_data_files(parts[0], parts[1]) -%}
            {%- if files is not none -%}
                {%- do lake_files.update({name: files['current']}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set state = {
            'fingerprint': cdp.lineage_fingerprint(),
            'built_at': run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f'),
            'lake_files': lake_files,
        } -%}
        {%- if as_of -%}
            {%- do state.update({'as_of_date': cdp.current_as_of() | string}) -%}
        {%- endif -%}
        comment on table {{ this }} is '{{ tojson(state) }}'
    {%- endif -%}
{%- endmacro %}

{#- Marts a daily run may keep as they are (DuckDB): a costly whole-history aggregate that a day's
    new data barely moves (association rules) is rebuilt only when its input grew enough since its
    last build. Its measure is the rows of the model `upstream` matching `where` (e.g. the purchase
    lines); the mart is kept while |measure now - measure at its last build| < `min_growth` x the
    latter (0: rebuilt every run), and its last build had its lineage's fingerprint (so a changed
    rule, upstream model or setting rebuilds it, as the first run and --full-refresh do). Other
    engines build it as a plain table every run. -#}
{% macro kept_mart_config(upstream, where, min_growth) -%}
    {{ return({
        'materialized': cdp.fact_materialization(),
        'incremental_strategy': 'append',
        'on_schema_change': 'sync_all_columns',
        'pre_hook': "{{ cdp.start_kept_mart('" ~ upstream ~ "', " ~ tojson(where) ~ ", " ~ min_growth ~ ") }}",
        'post_hook': "{{ cdp.finish_kept_mart('" ~ upstream ~ "', " ~ tojson(where) ~ ", " ~ min_growth ~ ") }}",
    }) }}
{%- endmacro %}

{#- The measure's value now: rows of `upstream` matching `where`. -#}
{% macro measured(upstream, where) -%}
    {{ return(run_query('select count(*) from ' ~ ref(upstream) ~ ' where ' ~ where).rows[0][0]) }}
{%- endmacro %}

{#- True when this run keeps the mart as its last build left it (the model then selects no row). -#}
{% macro keep_mart(upstream, where, min_growth) -%}
    {%- if not cdp.incremental_fact() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set then = cdp.built_state(this).get('measure') -%}
    {%- if then is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set now = cdp.measured(upstream, where) -%}
    {{ return((now - then) | abs < min_growth * then) }}
{%- endmacro %}

{#- Pre-hook: a mart rebuilt on a continued (incremental) run first loses its old rows. -#}
{% macro start_kept_mart(upstream, where, min_growth) -%}
    {%- if execute and is_incremental() and not cdp.keep_mart(upstream, where, min_growth) -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: a rebuilt mart records its fingerprint and the measure it was built at. -#}
{% macro finish_kept_mart(upstream, where, min_growth) -%}
    {{ return(adapter.dispatch('finish_kept_mart', 'cdp')(upstream, where, min_growth)) }}
{%- endmacro %}
{% macro default__finish_kept_mart(upstream, where, min_growth) -%}
{%- endmacro %}
{% macro duckdb__finish_kept_mart(upstream, where, min_growth) -%}
    {%- if execute and not cdp.keep_mart(upstream, where, min_growth) -%}
        {%- set state = {
            'fingerprint': cdp.lineage_fingerprint(),
            'built_at': run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f'),
            'measure': cdp.measured(upstream, where),
        } -%}
        comment on table {{ this }} is '{{ tojson(state) }}'
    {%- endif -%}
{%- endmacro %}

{#- Incremental customer marts (DuckDB): `int_customers__purchase_summary` and
    `customer_lifecycle_history` keep the rows of customers whose inputs did not change and
    rebuild only the rest. What a customer's rows are computed from is fingerprinted per customer
    in `int_customers__fingerprinted` (their linked records and their purchases), which rewrites
    only the rows whose fingerprint changed: those rows' `_built_at` name the customers whose
    identity (merge, split, new record) or purchases (new, corrected, re-keyed, gone orders)
    changed since a mart was built. The as-of date moving on changes rows too; each mart names
    the customers whose rows depend on the as-of between its last build's date (recorded in its
    comment) and today's (`as_of_affected`). Customers gone from the fingerprints lose their rows
    (start_incremental_fact). -#}

{#- Config of a customer mart keyed on `customer_id`; `post_hook`: further hooks after the rows
    are written (e.g. moving stored recency to today's as-of). -#}
{% macro customer_mart_config(post_hook=[]) -%}
    {%- set config = cdp.fact_config('customer_id', 'int_customers__fingerprinted', unchanged_since_built=true, as_of=true) -%}
    {%- do config.update({'post_hook': [config['post_hook']] + post_hook}) -%}
    {{ return(config) }}
{%- endmacro %}

{#- Today's as-of date (int_calendar__as_of), read at run time. -#}
{% macro current_as_of() -%}
    {{ return(run_query('select as_of_date from ' ~ ref('int_calendar__as_of')).rows[0][0]) }}
{%- endmacro %}

{#- The as-of date this table was last computed at (a date literal; null when not recorded). -#}
{% macro previous_as_of() -%}
    {%- set built = (cdp.built_state(this) or {}).get('as_of_date') -%}
    {%- if built -%}
    cast('{{ built }}' as date)
    {%- else -%}
    cast(null as date)
    {%- endif -%}
{%- endmacro %}

{#- CTE `rebuild` (followed by a comma) of a continued customer mart, nothing on a full build: the
    customers whose fingerprint was rewritten since the mart was built, and the customers of
    `model` (as `alias`, crossed with the CTE `as_of`) whose rows depend on the as-of date having
    moved from the last build's to today's. That move is the call block: `caller(previous)` adds
    `or ...` conditions given the previous as-of (a date literal). An as-of unknown or moved back
    rebuilds everyone. -#}
{% macro customers_to_rebuild(model, alias) -%}
    {%- if cdp.incremental_fact() -%}
    {%- set previous = cdp.previous_as_of() -%}
rebuild as (
    select customer_id from {{ ref('int_customers__fingerprinted') }}
    where _built_at > {{ cdp.last_built_at() }}
    union
    select {{ alias }}.customer_id
    from {{ ref(model) }} as {{ alias }}
    cross join as_of
    where {{ previous }} is null
        or as_of.as_of_date < {{ previous }}
        {{- caller(previous) }}
),
    {%- endif -%}
{%- endmacro %}

{#- `where` clause keeping a continued mart's input rows to the customers in CTE `rebuild`
    (nothing on a full build). -#}
{% macro only_rebuilt(column='customer_id') -%}
    {%- if cdp.incremental_fact() -%}
    where {{ column }} in (select customer_id from rebuild)
    {%- endif -%}
{%- endmacro %}

{#- An order-independent hash of a set of rows (an aggregate): the XOR of the rows' hashes, so the
    same rows in any order give the same value. DuckDB and Spark both have hash() and bit_xor(). -#}
{% macro set_hash(columns) -%}
    bit_xor(hash({{ columns | join(', ') }}))
{%- endmacro %}

{#- Post-hook of `int_customers__purchase_summary`: rows kept from an earlier build move their
    recency to today's as-of date (the rest of a kept row does not depend on it). -#}
{% macro move_recency_to_as_of() -%}
    {{ return(adapter.dispatch('move_recency_to_as_of', 'cdp')()) }}
{%- endmacro %}
{% macro default__move_recency_to_as_of() -%}
{%- endmacro %}
{% macro duckdb__move_recency_to_as_of() -%}
    {%- if execute -%}
    update {{ this }} as kept
    set
        recency_days = {{ days_between('kept.last_purchase_date', 'as_of.as_of_date') }},
        as_of_date = as_of.as_of_date
    from {{ ref('int_calendar__as_of') }} as as_of
    where kept.as_of_date is distinct from as_of.as_of_date
    {%- endif -%}
{%- endmacro %}
