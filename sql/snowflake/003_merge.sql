-- CustomerTrack on Snowflake, schema 3: the merge (DESIGN §3), its checks
-- and the task chain that runs them.
-- An applied migration is never edited: add a new numbered file instead.
--
-- The result is defined as a replay of every event ever loaded, per key,
-- in the order (update_timestamp, _file byte by byte, _row, _loaded_at),
-- from an empty state.  The state after an event is the event itself (an
-- upsert's values, or "gone" after a delete), so whether an event opens a
-- version depends only on the event before it: set-based SQL with LAG().
-- A merge rebuilds the whole history of every key that has new rows, from
-- all of that key's rows.  That is exact for late events, duplicates and
-- repeated files alike, and costs one pass over the affected keys' events.

-- Every version of every key, as the replay defines it.  The merge reads
-- it for the keys it rebuilds (the filter on customer_id goes through the
-- window functions, which are partitioned by it).  Only portable SQL here:
-- tests/t/0510 runs this view on PostgreSQL against scd_merge().
CREATE OR REPLACE VIEW customer_replay AS
WITH event AS (
    -- A delete's other fields are ignored; rows with a bad op never count.
    SELECT
        customer_id,
        update_timestamp,
        _file,
        _row,
        _loaded_at,
        COALESCE(op, '') = 'D' AS is_delete,
        CASE WHEN COALESCE(op, '') = 'D' THEN NULL ELSE first_name END AS first_name,
        CASE WHEN COALESCE(op, '') = 'D' THEN NULL ELSE last_name END AS last_name,
        CASE WHEN COALESCE(op, '') = 'D' THEN NULL ELSE email END AS email,
        CASE WHEN COALESCE(op, '') = 'D' THEN NULL ELSE street END AS street,
        CASE WHEN COALESCE(op, '') = 'D' THEN NULL ELSE city END AS city,
        CASE WHEN COALESCE(op, '') = 'D' THEN NULL ELSE state END AS state,
        CASE WHEN COALESCE(op, '') = 'D' THEN NULL ELSE country END AS country
    FROM customer_raw
    WHERE customer_id IS NOT NULL
        AND update_timestamp IS NOT NULL
        AND COALESCE(op, '') IN ('', 'I', 'U', 'D')
),

previous AS (
    -- Each event beside the one before it (prev_delete is NULL for a key's
    -- first event).
    SELECT
        event.*,
        LAG(is_delete) OVER (
            PARTITION BY customer_id ORDER BY update_timestamp, _file, _row, _loaded_at
        ) AS prev_delete,
        LAG(first_name) OVER (
            PARTITION BY customer_id ORDER BY update_timestamp, _file, _row, _loaded_at
        ) AS prev_first_name,
        LAG(last_name) OVER (
            PARTITION BY customer_id ORDER BY update_timestamp, _file, _row, _loaded_at
        ) AS prev_last_name,
        LAG(email) OVER (
            PARTITION BY customer_id ORDER BY update_timestamp, _file, _row, _loaded_at
        ) AS prev_email,
        LAG(street) OVER (
            PARTITION BY customer_id ORDER BY update_timestamp, _file, _row, _loaded_at
        ) AS prev_street,
        LAG(city) OVER (
            PARTITION BY customer_id ORDER BY update_timestamp, _file, _row, _loaded_at
        ) AS prev_city,
        LAG(state) OVER (
            PARTITION BY customer_id ORDER BY update_timestamp, _file, _row, _loaded_at
        ) AS prev_state,
        LAG(country) OVER (
            PARTITION BY customer_id ORDER BY update_timestamp, _file, _row, _loaded_at
        ) AS prev_country
    FROM event
),

change AS (
    -- The events that change the state: an upsert after nothing, after a
    -- delete or with other values (NULL-safe); a delete of a live key.
    SELECT *
    FROM previous
    WHERE CASE
        WHEN prev_delete IS NULL THEN NOT is_delete
        WHEN is_delete THEN NOT prev_delete
        WHEN prev_delete THEN TRUE
        ELSE first_name IS DISTINCT FROM prev_first_name
            OR last_name IS DISTINCT FROM prev_last_name
            OR email IS DISTINCT FROM prev_email
            OR street IS DISTINCT FROM prev_street
            OR city IS DISTINCT FROM prev_city
            OR state IS DISTINCT FROM prev_state
            OR country IS DISTINCT FROM prev_country
    END
),

version AS (
    -- A version lasts from its change to the next one.
    SELECT
        change.*,
        LEAD(update_timestamp) OVER (
            PARTITION BY customer_id ORDER BY update_timestamp, _file, _row, _loaded_at
        ) AS next_change
    FROM change
)

SELECT
    customer_id,
    first_name,
    last_name,
    email,
    street,
    city,
    state,
    country,
    update_timestamp AS start_time,
    COALESCE(next_change, CAST('9999-12-31 00:00:00 +00:00' AS TIMESTAMP_TZ)) AS end_time,
    next_change IS NULL AS is_current
FROM version
WHERE NOT is_delete;

-- The invariants of scd-merge --verify: one row per key and problem,
-- nothing when all hold.  Portable SQL, like customer_replay.
CREATE OR REPLACE VIEW scd_violations AS
WITH history AS (
    SELECT
        customer_history.*,
        LEAD(start_time) OVER (
            PARTITION BY customer_id ORDER BY start_time, end_time
        ) AS next_start
    FROM customer_history
),

current_version AS (
    SELECT * FROM customer_history WHERE is_current
),

problem AS (
    SELECT customer_id, 'start_time after end_time' AS problem
    FROM history WHERE start_time > end_time
    UNION ALL
    SELECT customer_id, 'is_current disagrees with end_time' AS problem
    FROM history
    WHERE is_current <> (end_time = CAST('9999-12-31 00:00:00 +00:00' AS TIMESTAMP_TZ))
    UNION ALL
    SELECT customer_id, 'overlapping versions' AS problem
    FROM history WHERE next_start < end_time
    UNION ALL
    SELECT customer_id, 'more than one current version' AS problem
    FROM current_version GROUP BY customer_id HAVING COUNT(*) > 1
    UNION ALL
    SELECT
        COALESCE(c.customer_id, h.customer_id) AS customer_id,
        CASE
            WHEN c.customer_id IS NULL THEN 'current version without a customer row'
            WHEN h.customer_id IS NULL THEN 'customer row without a current version'
            ELSE 'customer differs from its current version'
        END AS problem
    FROM customer AS c
    FULL OUTER JOIN current_version AS h ON c.customer_id = h.customer_id
    WHERE c.customer_id IS NULL
        OR h.customer_id IS NULL
        OR c.first_name IS DISTINCT FROM h.first_name
        OR c.last_name IS DISTINCT FROM h.last_name
        OR c.email IS DISTINCT FROM h.email
        OR c.street IS DISTINCT FROM h.street
        OR c.city IS DISTINCT FROM h.city
        OR c.state IS DISTINCT FROM h.state
        OR c.country IS DISTINCT FROM h.country
        OR c.update_timestamp <> h.start_time
)

SELECT DISTINCT customer_id, problem FROM problem;

-- Merges every row of customer_raw_stream into customer and
-- customer_history in one transaction, which also consumes the stream.
-- Returns what it did, e.g. 'merged 120 keys, 340 versions'.  Called by
-- customer_merge_task, and by scd-merge --dialect snowflake.
CREATE OR REPLACE PROCEDURE customer_merge()
RETURNS VARCHAR
LANGUAGE SQL
EXECUTE AS OWNER
AS
$$
DECLARE
    n_keys INTEGER DEFAULT 0;
    n_versions INTEGER DEFAULT 0;
BEGIN
    BEGIN TRANSACTION;

    -- First the lock (held until COMMIT), then the stream: a second merge
    -- waits here and then sees what the first one left.
    DELETE FROM customer_merge_keys;
    INSERT INTO customer_merge_keys (customer_id)
        SELECT DISTINCT customer_id
        FROM customer_raw_stream
        WHERE METADATA$ACTION = 'INSERT' AND customer_id IS NOT NULL;
    n_keys := SQLROWCOUNT;

    -- SCD1: each affected key's current version, or its removal.  One
    -- source row per key (QUALIFY), so the MERGE is deterministic.
    MERGE INTO customer AS c
    USING (
        SELECT
            k.customer_id,
            r.first_name,
            r.last_name,
            r.email,
            r.street,
            r.city,
            r.state,
            r.country,
            r.start_time,
            r.customer_id IS NULL AS gone
        FROM customer_merge_keys AS k
        LEFT OUTER JOIN customer_replay AS r
            ON r.customer_id = k.customer_id AND r.is_current
        QUALIFY ROW_NUMBER() OVER (
            PARTITION BY k.customer_id ORDER BY r.start_time DESC
        ) = 1
    ) AS s
    ON c.customer_id = s.customer_id
    WHEN MATCHED AND s.gone THEN DELETE
    WHEN MATCHED AND (
        c.first_name IS DISTINCT FROM s.first_name
        OR c.last_name IS DISTINCT FROM s.last_name
        OR c.email IS DISTINCT FROM s.email
        OR c.street IS DISTINCT FROM s.street
        OR c.city IS DISTINCT FROM s.city
        OR c.state IS DISTINCT FROM s.state
        OR c.country IS DISTINCT FROM s.country
        OR c.update_timestamp <> s.start_time
    ) THEN UPDATE SET
        first_name = s.first_name,
        last_name = s.last_name,
        email = s.email,
        street = s.street,
        city = s.city,
        state = s.state,
        country = s.country,
        update_timestamp = s.start_time
    WHEN NOT MATCHED AND NOT s.gone THEN INSERT (
        customer_id, first_name, last_name, email, street, city, state,
        country, update_timestamp
    ) VALUES (
        s.customer_id, s.first_name, s.last_name, s.email, s.street,
        s.city, s.state, s.country, s.start_time
    );

    -- SCD2: the affected keys' history, rebuilt from all their events.
    DELETE FROM customer_history
    WHERE customer_id IN (SELECT customer_id FROM customer_merge_keys);
    INSERT INTO customer_history (
        customer_id, first_name, last_name, email, street, city, state,
        country, start_time, end_time, is_current
    )
    SELECT
        r.customer_id, r.first_name, r.last_name, r.email, r.street,
        r.city, r.state, r.country, r.start_time, r.end_time, r.is_current
    FROM customer_replay AS r
    WHERE r.customer_id IN (SELECT customer_id FROM customer_merge_keys);
    n_versions := SQLROWCOUNT;

    IF (n_keys > 0) THEN
        INSERT INTO merge_history (merged_at, keys, versions)
        VALUES (CURRENT_TIMESTAMP(), :n_keys, :n_versions);
    END IF;

    COMMIT;
    RETURN 'merged ' || n_keys || ' keys, ' || n_versions || ' versions';
EXCEPTION
    WHEN OTHER THEN
        ROLLBACK;
        RAISE;
END;
$$;

-- The task chain.  The root merges when the stream has rows (the WHEN
-- costs no compute when it is false); runs never overlap.  Serverless, so
-- that no warehouse name is needed here: ALTER TASK ... SET WAREHOUSE to
-- use one of your own.  Created suspended: docs/snowflake.md resumes them.
CREATE TASK IF NOT EXISTS customer_merge_task
    USER_TASK_MANAGED_INITIAL_WAREHOUSE_SIZE = 'XSMALL'
    SCHEDULE = '1 MINUTE'
    ALLOW_OVERLAPPING_EXECUTION = FALSE
    SUSPEND_TASK_AFTER_NUM_FAILURES = 10
    COMMENT = 'CustomerTrack: merge customer_raw_stream (scd-merge)'
WHEN SYSTEM$STREAM_HAS_DATA('customer_raw_stream')
AS
    CALL customer_merge();

-- After each merge: the invariants, for the keys that merge touched.
CREATE TASK IF NOT EXISTS customer_check_task
    USER_TASK_MANAGED_INITIAL_WAREHOUSE_SIZE = 'XSMALL'
    COMMENT = 'CustomerTrack: check the merged keys (scd-merge --verify)'
    AFTER customer_merge_task
AS
    INSERT INTO scd_checks (checked_at, violations)
    SELECT CURRENT_TIMESTAMP(), COUNT(*)
    FROM scd_violations
    WHERE customer_id IN (SELECT customer_id FROM customer_merge_keys);
