-- CustomerTrack schema 2: the dimension (DESIGN §2, §3) and the merge.
-- An applied migration is never edited: add a new numbered file instead.
--
-- The result of scd_merge() is defined as a replay of every event ever
-- loaded, per key, in the order (update_timestamp, _file byte by byte,
-- _row, _load_id), from an empty state.  The state after an event is the
-- event itself (an upsert's values, or "gone" after a delete), so whether
-- an event opens a version depends only on the event before it; that is
-- what lets the merge run as set-based SQL with lag().
--
-- A file loaded twice (snow-load --force) gives each row twice, at the
-- same position: the copy is an equal re-send right after the original,
-- which changes nothing.  No explicit deduplication is needed; rows at one
-- (_file, _row) with different contents are ordered by _load_id.

-- SCD Type 1: one row per live customer, its latest values.
CREATE TABLE customer (
    customer_id      bigint PRIMARY KEY,
    first_name       text,
    last_name        text,
    email            text,
    street           text,
    city             text,
    state            text,
    country          text,
    update_timestamp timestamptz NOT NULL
) WITH (fillfactor = 90);

-- SCD Type 2: every version, [start_time, end_time).
CREATE TABLE customer_history (
    customer_id      bigint      NOT NULL,
    first_name       text,
    last_name        text,
    email            text,
    street           text,
    city             text,
    state            text,
    country          text,
    start_time       timestamptz NOT NULL,
    end_time         timestamptz NOT NULL DEFAULT '9999-12-31 00:00:00+00',
    is_current       boolean     NOT NULL DEFAULT true
) WITH (fillfactor = 90);
-- One index serves the merge, on columns it never updates: closing a
-- version can then be a HOT update, in the room fillfactor leaves.  With
-- start_time, finding a key's current version (its start is customer's
-- update_timestamp) reads one entry, however long the key's history.
CREATE INDEX customer_history_key ON customer_history (customer_id, start_time);

-- The stream offset: a load is merged when merged_at is set, in the same
-- transaction as its rows' merge.  Loads commit out of load_id order, so
-- the offset is this exact set, not a high-water mark.
ALTER TABLE load_history ADD COLUMN merged_at timestamptz;
CREATE INDEX load_history_unmerged ON load_history (load_id)
    WHERE merged_at IS NULL AND status IN ('loaded', 'partially_loaded');

-- Per key, in event order: finds late events and replays a key's history.
CREATE INDEX customer_raw_key ON customer_raw (customer_id, update_timestamp);

-- Which columns open a new version when they change; a change to the
-- others updates the current version in place.
CREATE TABLE scd_settings (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    history_columns text[]  NOT NULL
        DEFAULT ARRAY['first_name', 'last_name', 'email', 'street', 'city',
                      'state', 'country']
        CHECK (history_columns <@ ARRAY['first_name', 'last_name', 'email',
                      'street', 'city', 'state', 'country'])
);
INSERT INTO scd_settings DEFAULT VALUES;

-- The latest update_timestamp merged so far: a new event after it cannot
-- be late, so its key needs no look at the key's earlier events.
CREATE TABLE scd_state (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    merged_until timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO scd_state DEFAULT VALUES;

-- The valid raw rows as events; a delete's other fields are ignored
-- (NULL).  A view, so that the queries using it probe customer_raw's
-- indexes through it.
CREATE VIEW scd_events AS
    SELECT r.customer_id, r.update_timestamp AS ts, r._file AS f,
           r._row AS rn, r._load_id AS lid, r.del,
           CASE WHEN NOT r.del THEN r.first_name END AS first_name,
           CASE WHEN NOT r.del THEN r.last_name END AS last_name,
           CASE WHEN NOT r.del THEN r.email END AS email,
           CASE WHEN NOT r.del THEN r.street END AS street,
           CASE WHEN NOT r.del THEN r.city END AS city,
           CASE WHEN NOT r.del THEN r.state END AS state,
           CASE WHEN NOT r.del THEN r.country END AS country
    FROM (SELECT r.*, r.op IS NOT DISTINCT FROM 'D' AS del
          FROM customer_raw r
          WHERE r.customer_id IS NOT NULL AND r.update_timestamp IS NOT NULL
            AND coalesce(r.op, '') IN ('', 'I', 'U', 'D')) r;

-- The end of scd_merge(): records the offset (the merged loads and the
-- latest event time), restores the join settings, drops the general
-- path's tables.
CREATE FUNCTION finish_merge(ids bigint[], last_ts timestamptz,
                             hashjoin text, mergejoin text, general boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- clock_timestamp(): about when the merge commits (bench/latency)
    UPDATE load_history h SET merged_at = clock_timestamp()
    WHERE h.load_id = ANY (ids);
    UPDATE scd_state SET merged_until = greatest(merged_until, last_ts)
    WHERE merged_until < last_ts;
    PERFORM set_config('enable_hashjoin', hashjoin, true),
            set_config('enable_mergejoin', mergejoin, true);
    IF general THEN
        DROP TABLE scd_batch, scd_key, scd_seq, scd_step, scd_version;
    END IF;
END
$$;

-- Merges every row of the loads not yet merged, in one transaction with
-- the offset.  Keys whose new events all come after their merged events
-- continue from their current version; keys with a late event have their
-- history rebuilt from all their events.  Concurrent calls are serialised
-- by an advisory lock: the second waits, then merges what is left.
CREATE FUNCTION scd_merge(OUT loads bigint, OUT events bigint, OUT keys bigint,
                          OUT late_keys bigint, OUT versions bigint,
                          OUT deleted bigint)
LANGUAGE plpgsql
-- Room to sort and hash a batch in memory; no JIT compilation, which
-- costs more than it saves on a batch.
SET work_mem = '256MB'
SET jit = off
AS $$
DECLARE
    ids bigint[];
    hc text[];
    until timestamptz;
    cnt bigint;
    rest bigint;
    last_ts timestamptz;
    h_first boolean; h_last boolean; h_email boolean; h_street boolean;
    h_city boolean; h_state boolean; h_country boolean;
    hashjoin text := current_setting('enable_hashjoin');
    mergejoin text := current_setting('enable_mergejoin');
BEGIN
    PERFORM pg_advisory_xact_lock(7166741551542052717);
    loads := 0; events := 0; keys := 0; late_keys := 0; versions := 0;
    deleted := 0;

    SELECT array_agg(load_id) INTO ids FROM load_history
    WHERE merged_at IS NULL AND status IN ('loaded', 'partially_loaded');
    IF ids IS NULL THEN
        RETURN;
    END IF;
    loads := cardinality(ids);

    SELECT history_columns INTO hc FROM scd_settings;
    SELECT merged_until INTO until FROM scd_state;
    h_first := 'first_name' = ANY (hc); h_last := 'last_name' = ANY (hc);
    h_email := 'email' = ANY (hc); h_street := 'street' = ANY (hc);
    h_city := 'city' = ANY (hc); h_state := 'state' = ANY (hc);
    h_country := 'country' = ANY (hc);

    -- Most keys have one event in the batch, after every merged event of
    -- theirs: compared with the key's row in customer, it closes the
    -- current version (a delete, or a change of a history column) and
    -- opens a new one (an upsert), or updates the current version in place
    -- (a change of other columns), or does nothing.  One statement, one
    -- pass over the batch, in key order so that the index probes of
    -- customer and customer_history are sequential; the batch is small
    -- beside the tables, so they are probed by index, never scanned, and
    -- customer's rows are then written by the address (ctid) the probe
    -- found: only scd_merge() writes customer, under its lock.
    -- Other keys (rest) are left to the general path below.
    PERFORM set_config('enable_hashjoin', 'off', true),
            set_config('enable_mergejoin', 'off', true);
    WITH b AS (
        -- fast: the key's only event in the batch, and not late.  Only an
        -- event not after every merged event can be late: then an event
        -- of another load at or after it makes it so.
        SELECT r.*, r.n = 1 AND NOT (r.ts <= until AND EXISTS (
                   SELECT FROM customer_raw x
                   WHERE x.customer_id = r.customer_id
                     AND x.update_timestamp >= r.ts
                     AND x._load_id <> ALL (ids))) AS fast
        FROM (
            SELECT r.*, count(*) OVER (PARTITION BY r.customer_id) AS n
            FROM unnest(ids) l(load_id) CROSS JOIN LATERAL (
                SELECT * FROM scd_events e WHERE e.lid = l.load_id OFFSET 0) r
        ) r
    ), s AS MATERIALIZED (
        SELECT b.customer_id, b.ts, b.fast, b.del, b.first_name, b.last_name,
               b.email, b.street, b.city, b.state, b.country,
               c.ctid AS c_ctid, c.customer_id IS NOT NULL AS live,
               c.update_timestamp AS c_ts,
               b.del OR (h_first AND b.first_name IS DISTINCT FROM c.first_name)
               OR (h_last AND b.last_name IS DISTINCT FROM c.last_name)
               OR (h_email AND b.email IS DISTINCT FROM c.email)
               OR (h_street AND b.street IS DISTINCT FROM c.street)
               OR (h_city AND b.city IS DISTINCT FROM c.city)
               OR (h_state AND b.state IS DISTINCT FROM c.state)
               OR (h_country AND b.country IS DISTINCT FROM c.country)
               AS closes,
               (b.first_name, b.last_name, b.email, b.street, b.city, b.state,
                b.country)
               IS DISTINCT FROM (c.first_name, c.last_name, c.email, c.street,
                c.city, c.state, c.country) AS changed
        FROM b
        LEFT JOIN LATERAL (
            SELECT c.ctid, c.* FROM customer c
            WHERE b.fast AND c.customer_id = b.customer_id
            OFFSET 0) c ON true
    ), closed AS (
        UPDATE customer_history h
        SET end_time = CASE WHEN s.closes THEN s.ts ELSE h.end_time END,
            is_current = NOT s.closes,
            first_name = CASE WHEN s.closes THEN h.first_name ELSE s.first_name END,
            last_name = CASE WHEN s.closes THEN h.last_name ELSE s.last_name END,
            email = CASE WHEN s.closes THEN h.email ELSE s.email END,
            street = CASE WHEN s.closes THEN h.street ELSE s.street END,
            city = CASE WHEN s.closes THEN h.city ELSE s.city END,
            state = CASE WHEN s.closes THEN h.state ELSE s.state END,
            country = CASE WHEN s.closes THEN h.country ELSE s.country END
        FROM s
        WHERE s.fast AND s.live AND (s.closes OR s.changed)
          AND h.customer_id = s.customer_id AND h.start_time = s.c_ts
          AND h.is_current
    ), opened AS (
        INSERT INTO customer_history (customer_id, first_name, last_name,
            email, street, city, state, country, start_time)
        SELECT s.customer_id, s.first_name, s.last_name, s.email, s.street,
               s.city, s.state, s.country, s.ts
        FROM s WHERE s.fast AND NOT s.del AND (s.closes OR NOT s.live)
    ), gone AS (
        DELETE FROM customer c USING s
        WHERE s.fast AND s.del AND s.live AND c.ctid = s.c_ctid
    ), kept AS (
        UPDATE customer c
        SET first_name = s.first_name, last_name = s.last_name,
            email = s.email, street = s.street, city = s.city,
            state = s.state, country = s.country,
            update_timestamp = CASE WHEN s.closes THEN s.ts ELSE s.c_ts END
        FROM s
        WHERE s.fast AND NOT s.del AND s.live AND s.changed
          AND c.ctid = s.c_ctid
    ), added AS (
        INSERT INTO customer (customer_id, first_name, last_name, email,
            street, city, state, country, update_timestamp)
        SELECT s.customer_id, s.first_name, s.last_name, s.email, s.street,
               s.city, s.state, s.country, s.ts
        FROM s WHERE s.fast AND NOT s.del AND NOT s.live
    )
    SELECT count(*), max(s.ts), count(*) FILTER (WHERE s.fast),
           count(*) FILTER (WHERE s.fast AND NOT s.del
                            AND (s.closes OR NOT s.live)),
           count(*) FILTER (WHERE s.fast AND s.del AND s.live)
    INTO events, last_ts, keys, versions, deleted
    FROM s;
    rest := events - keys;

    PERFORM set_config('enable_hashjoin', hashjoin, true),
            set_config('enable_mergejoin', mergejoin, true);
    IF rest = 0 THEN
        PERFORM finish_merge(ids, last_ts, hashjoin, mergejoin, false);
        RETURN;
    END IF;

    -- The general path, for the other keys: those with several events in
    -- the batch, or a late one.
    -- The batch's events.  n: the key's events in the batch; first: the
    -- key's first (or only) one.
    CREATE TEMP TABLE scd_batch ON COMMIT DROP AS
        SELECT r.*, count(*) OVER (PARTITION BY r.customer_id) AS n,
               row_number() OVER k = 1 AS first
        FROM unnest(ids) l(load_id) CROSS JOIN LATERAL (
            SELECT * FROM scd_events e WHERE e.lid = l.load_id OFFSET 0) r
        WINDOW k AS (PARTITION BY r.customer_id ORDER BY r.ts, r.f COLLATE "C", r.rn, r.lid);
    GET DIAGNOSTICS events = ROW_COUNT;

    -- One row per key, its first event.  A key is late when an event of
    -- another load comes at or after its first new one; only a key whose
    -- first event is not after every merged event can be.  That may also
    -- flag a key that is not late (an event at the same instant, or of a
    -- load not merged yet): such a key is rebuilt whole, to the same result.
    CREATE TEMP TABLE scd_key ON COMMIT DROP AS
        SELECT b.*, x.late IS NOT NULL AS late
        FROM scd_batch b
        LEFT JOIN LATERAL (
            SELECT true AS late FROM customer_raw r
            WHERE b.ts <= until
              AND r.customer_id = b.customer_id AND r.update_timestamp >= b.ts
              AND r._load_id <> ALL (ids)
            LIMIT 1) x ON true
        WHERE b.first;
    GET DIAGNOSTICS keys = ROW_COUNT;
    SELECT count(*) INTO late_keys FROM scd_key WHERE late;
    ANALYZE scd_key (customer_id, n, late);

    -- scd_version: one row per group of a key's events that opens a
    -- version (or, gone, ends one with a delete); group 0 (init) is the
    -- current version an in-order key continues from.  end_time NULL:
    -- still open.  last: the key's final state.
    CREATE TEMP TABLE scd_version (
        customer_id bigint, grp bigint, init boolean, gone boolean,
        start_time timestamptz, end_time timestamptz, last boolean,
        first_name text, last_name text, email text, street text, city text,
        state text, country text
    ) ON COMMIT DROP;

    -- Other keys: a sequence from the current state (the init row) with
    -- the new events, or for a late key all its events from nothing.
    CREATE TEMP TABLE scd_seq ON COMMIT DROP AS
        SELECT c.customer_id, '-infinity'::timestamptz AS ts, ''::text AS f,
               0::bigint AS rn, 0::bigint AS lid, false AS del, true AS init,
               c.first_name, c.last_name, c.email, c.street, c.city, c.state,
               c.country
        FROM scd_key k CROSS JOIN LATERAL (
            SELECT * FROM customer c WHERE c.customer_id = k.customer_id
            OFFSET 0) c
        WHERE k.n > 1 AND NOT k.late
        UNION ALL
        SELECT b.customer_id, b.ts, b.f, b.rn, b.lid, b.del, false,
               b.first_name, b.last_name, b.email, b.street, b.city, b.state,
               b.country
        FROM scd_batch b JOIN scd_key k ON k.customer_id = b.customer_id
        WHERE k.n > 1 AND NOT k.late
        UNION ALL
        SELECT r.customer_id, r.ts, r.f, r.rn, r.lid, r.del, false,
               r.first_name, r.last_name, r.email, r.street, r.city, r.state,
               r.country
        FROM scd_key k CROSS JOIN LATERAL (
            SELECT * FROM scd_events r
            WHERE r.customer_id = k.customer_id
              AND (r.lid = ANY (ids)
                   OR EXISTS (SELECT 1 FROM load_history h
                              WHERE h.load_id = r.lid
                                AND h.merged_at IS NOT NULL))
            OFFSET 0) r
        WHERE k.late;

    -- Which events open a group: an upsert after a delete or nothing, or
    -- one whose history columns differ from the event before it (the state
    -- after an upsert is the upsert); a delete of a live key.
    CREATE TEMP TABLE scd_step ON COMMIT DROP AS
        SELECT s.*, sum(s.boundary::int) OVER (PARTITION BY s.customer_id
                ORDER BY s.ts, s.f COLLATE "C", s.rn, s.lid
                ROWS UNBOUNDED PRECEDING) AS grp
        FROM (
            SELECT s.*,
                CASE WHEN s.init THEN false
                     WHEN s.del THEN coalesce(NOT lag(s.del) OVER w, false)
                     ELSE lag(s.del) OVER w IS DISTINCT FROM false
                       OR (h_first AND s.first_name IS DISTINCT FROM lag(s.first_name) OVER w)
                       OR (h_last AND s.last_name IS DISTINCT FROM lag(s.last_name) OVER w)
                       OR (h_email AND s.email IS DISTINCT FROM lag(s.email) OVER w)
                       OR (h_street AND s.street IS DISTINCT FROM lag(s.street) OVER w)
                       OR (h_city AND s.city IS DISTINCT FROM lag(s.city) OVER w)
                       OR (h_state AND s.state IS DISTINCT FROM lag(s.state) OVER w)
                       OR (h_country AND s.country IS DISTINCT FROM lag(s.country) OVER w)
                END AS boundary
            FROM scd_seq s
            WINDOW w AS (PARTITION BY s.customer_id
                         ORDER BY s.ts, s.f COLLATE "C", s.rn, s.lid)
        ) s;

    -- One row per group: how it starts, its last values (later upserts
    -- that change no history column update the version in place), and
    -- when the next group starts.  Group 0 of a key without an init row
    -- holds only deletes of a gone key.
    INSERT INTO scd_version (customer_id, grp, init, gone, start_time,
        end_time, last, first_name, last_name, email, street, city, state,
        country)
    SELECT g.customer_id, g.grp, g.init, g.gone, g.start_time,
           lead(g.start_time) OVER (PARTITION BY g.customer_id ORDER BY g.grp),
           g.grp = max(g.grp) OVER (PARTITION BY g.customer_id),
           g.first_name, g.last_name, g.email, g.street, g.city, g.state,
           g.country
    FROM (
        SELECT DISTINCT ON (s.customer_id, s.grp) s.customer_id, s.grp,
               first_value(s.ts) OVER g AS start_time,
               first_value(s.del) OVER g AS gone,
               first_value(s.init) OVER g AS init,
               s.first_name, s.last_name, s.email, s.street, s.city,
               s.state, s.country
        FROM scd_step s
        WINDOW g AS (PARTITION BY s.customer_id, s.grp
                     ORDER BY s.ts, s.f COLLATE "C", s.rn, s.lid)
        ORDER BY s.customer_id, s.grp, s.ts DESC, s.f COLLATE "C" DESC,
                 s.rn DESC, s.lid DESC
    ) g;
    ANALYZE scd_version (customer_id, init);
    PERFORM set_config('enable_hashjoin', 'off', true),
            set_config('enable_mergejoin', 'off', true);

    -- Late keys: their history is rebuilt whole.
    DELETE FROM customer_history h USING scd_key k
    WHERE k.late AND h.customer_id = k.customer_id;

    -- In-order keys: the current version is closed or updated in place.
    UPDATE customer_history h
    SET first_name = v.first_name, last_name = v.last_name, email = v.email,
        street = v.street, city = v.city, state = v.state, country = v.country,
        end_time = coalesce(v.end_time, '9999-12-31 00:00:00+00'),
        is_current = v.end_time IS NULL
    FROM scd_version v
    WHERE v.init AND h.customer_id = v.customer_id AND h.is_current
      AND (v.end_time IS NOT NULL
           OR (h.first_name, h.last_name, h.email, h.street, h.city, h.state,
               h.country)
              IS DISTINCT FROM (v.first_name, v.last_name, v.email, v.street,
               v.city, v.state, v.country));

    INSERT INTO customer_history (customer_id, first_name, last_name, email,
        street, city, state, country, start_time, end_time, is_current)
    SELECT v.customer_id, v.first_name, v.last_name, v.email, v.street,
           v.city, v.state, v.country, v.start_time,
           coalesce(v.end_time, '9999-12-31 00:00:00+00'), v.end_time IS NULL
    FROM scd_version v
    WHERE NOT v.init AND NOT v.gone;
    GET DIAGNOSTICS cnt = ROW_COUNT;
    versions := versions + cnt;

    -- customer: the last state of each key.
    DELETE FROM customer c USING scd_version v
    WHERE v.last AND v.gone AND c.customer_id = v.customer_id;
    GET DIAGNOSTICS cnt = ROW_COUNT;
    deleted := deleted + cnt;

    INSERT INTO customer AS c (customer_id, first_name, last_name, email,
        street, city, state, country, update_timestamp)
    SELECT v.customer_id, v.first_name, v.last_name, v.email, v.street,
           v.city, v.state, v.country, v.start_time
    FROM scd_version v
    WHERE v.last AND NOT v.gone
    ON CONFLICT (customer_id) DO UPDATE
    SET first_name = excluded.first_name, last_name = excluded.last_name,
        email = excluded.email, street = excluded.street, city = excluded.city,
        state = excluded.state, country = excluded.country,
        update_timestamp = CASE WHEN excluded.update_timestamp = '-infinity'
                                THEN c.update_timestamp
                                ELSE excluded.update_timestamp END
    WHERE (c.first_name, c.last_name, c.email, c.street, c.city, c.state,
           c.country)
          IS DISTINCT FROM (excluded.first_name, excluded.last_name,
           excluded.email, excluded.street, excluded.city, excluded.state,
           excluded.country)
       OR (excluded.update_timestamp <> '-infinity'
           AND c.update_timestamp <> excluded.update_timestamp);

    PERFORM finish_merge(ids, last_ts, hashjoin, mergejoin, true);
END
$$;

-- The dimension as it was at time ts: each key's version valid then, with
-- update_timestamp its start.  Zero-length versions are valid at no time.
CREATE FUNCTION customer_as_of(ts timestamptz)
RETURNS TABLE (customer_id bigint, first_name text, last_name text,
               email text, street text, city text, state text, country text,
               update_timestamp timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT h.customer_id, h.first_name, h.last_name, h.email, h.street,
           h.city, h.state, h.country, h.start_time
    FROM customer_history h
    WHERE h.start_time <= ts AND h.end_time > ts
$$;

-- Checks DESIGN §4's invariants; returns the offending keys (at most lim)
-- with what is wrong, the smallest key first, nothing when all hold.
CREATE FUNCTION scd_verify(lim bigint DEFAULT 1)
RETURNS TABLE (customer_id bigint, problem text)
LANGUAGE sql STABLE AS $$
    WITH h AS (
        SELECT h.*, lead(h.start_time) OVER w AS next_start
        FROM customer_history h
        WINDOW w AS (PARTITION BY h.customer_id ORDER BY h.start_time, h.end_time)
    ), p AS (
        SELECT h.customer_id, 'start_time after end_time' AS problem
        FROM h WHERE h.start_time > h.end_time
        UNION ALL
        SELECT h.customer_id, 'is_current disagrees with end_time'
        FROM h WHERE h.is_current <> (h.end_time = '9999-12-31 00:00:00+00')
        UNION ALL
        SELECT h.customer_id, 'overlapping versions'
        FROM h WHERE h.next_start < h.end_time
        UNION ALL
        SELECT h.customer_id, 'more than one current version'
        FROM h WHERE h.is_current GROUP BY h.customer_id HAVING count(*) > 1
        UNION ALL
        SELECT coalesce(c.customer_id, h.customer_id),
               CASE WHEN c.customer_id IS NULL
                    THEN 'current version without a customer row'
                    WHEN h.customer_id IS NULL
                    THEN 'customer row without a current version'
                    ELSE 'customer differs from its current version' END
        FROM customer c
        FULL JOIN (SELECT * FROM customer_history WHERE is_current) h
          ON h.customer_id = c.customer_id
        WHERE c.customer_id IS NULL OR h.customer_id IS NULL
           OR (c.first_name, c.last_name, c.email, c.street, c.city, c.state,
               c.country, c.update_timestamp)
              IS DISTINCT FROM (h.first_name, h.last_name, h.email, h.street,
               h.city, h.state, h.country, h.start_time)
    )
    SELECT p.customer_id, min(p.problem) FROM p
    GROUP BY p.customer_id ORDER BY p.customer_id LIMIT lim
$$;
