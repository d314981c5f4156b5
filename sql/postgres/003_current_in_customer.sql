-- CustomerTrack schema 3: a key's current version lives in customer only.
-- An applied migration is never edited: add a new numbered file instead.
--
-- DESIGN §3 makes customer's row and the key's current version the same
-- values with the same start (update_timestamp), so storing both made
-- every change write a version twice: close the current row of
-- customer_history, insert its successor, update customer.  Now
-- customer_history_closed holds the versions that have ended, and
-- customer_history is a view of them and of customer, as SQL Server's
-- system-versioned tables pair a current table with a history table.  A
-- change costs one insert (the version it closes) beside the SCD1 work; a
-- change of other columns, or an equal re-send, costs nothing more; and
-- customer cannot disagree with the current versions.

-- The versions that have ended: [start_time, end_time), end_time real.
CREATE TABLE customer_history_closed (
    customer_id      bigint      NOT NULL,
    first_name       text,
    last_name        text,
    email            text,
    street           text,
    city             text,
    state            text,
    country          text,
    start_time       timestamptz NOT NULL,
    end_time         timestamptz NOT NULL
);
INSERT INTO customer_history_closed
SELECT customer_id, first_name, last_name, email, street, city, state,
       country, start_time, end_time
FROM customer_history WHERE NOT is_current;
-- Who could read the table can read the view (granted below).
CREATE TEMP TABLE scd_readers AS
    SELECT coalesce(quote_ident(r.rolname), 'PUBLIC') AS grantee,
           a.is_grantable
    FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
    LEFT JOIN pg_roles r ON r.oid = a.grantee
    WHERE c.oid = 'customer_history'::regclass
      AND a.privilege_type = 'SELECT' AND a.grantee <> c.relowner;
DROP TABLE customer_history;
-- Per key, in time order: a late key's versions are found by it.
CREATE INDEX customer_history_closed_key
    ON customer_history_closed (customer_id, start_time);

-- SCD Type 2 as DESIGN §2 gives it: every version, [start_time, end_time).
-- Read-only: scd_merge() writes its two tables.  (COPY TO needs the form
-- COPY (SELECT * FROM customer_history) TO.)
CREATE VIEW customer_history AS
    SELECT h.customer_id, h.first_name, h.last_name, h.email, h.street,
           h.city, h.state, h.country, h.start_time, h.end_time,
           false AS is_current
    FROM customer_history_closed h
    UNION ALL
    SELECT c.customer_id, c.first_name, c.last_name, c.email, c.street,
           c.city, c.state, c.country, c.update_timestamp,
           timestamptz '9999-12-31 00:00:00+00', true
    FROM customer c;
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT * FROM scd_readers LOOP
        EXECUTE format('GRANT SELECT ON customer_history TO %s%s', g.grantee,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION'
                            ELSE '' END);
    END LOOP;
END
$$;
DROP TABLE scd_readers;

-- Merges every row of the loads not yet merged, in one transaction with
-- the offset.  Keys whose new events all come after their merged events
-- continue from their current version; keys with a late event have their
-- history rebuilt from all their events.  Concurrent calls are serialised
-- by an advisory lock: the second waits, then merges what is left.
CREATE OR REPLACE FUNCTION scd_merge(OUT loads bigint, OUT events bigint,
                                     OUT keys bigint, OUT late_keys bigint,
                                     OUT versions bigint, OUT deleted bigint)
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
    -- theirs: compared with the key's row in customer (its current
    -- version), a delete or a change of a history column closes that
    -- version, which is kept in customer_history_closed; then customer
    -- takes the event's values, start and all when it opens a version.
    -- One statement, one pass over the batch, in key order so that the
    -- probes of customer are sequential; the batch is small beside the
    -- table, so it is probed by index, never scanned, and its rows are
    -- then written by the address (ctid) the probe found: only
    -- scd_merge() writes customer, under its lock.
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
            -- only what the sort must carry
            SELECT r.customer_id, r.ts, r.del, r.first_name, r.last_name,
                   r.email, r.street, r.city, r.state, r.country,
                   count(*) OVER (PARTITION BY r.customer_id) AS n
            FROM unnest(ids) l(load_id) CROSS JOIN LATERAL (
                SELECT * FROM scd_events e WHERE e.lid = l.load_id OFFSET 0) r
        ) r
    ), s AS MATERIALIZED (
        SELECT b.customer_id, b.ts, b.fast, b.del, b.first_name, b.last_name,
               b.email, b.street, b.city, b.state, b.country,
               c.ctid AS c_ctid, c.customer_id IS NOT NULL AS live,
               c.update_timestamp AS c_ts, c.first_name AS c_first_name,
               c.last_name AS c_last_name, c.email AS c_email,
               c.street AS c_street, c.city AS c_city, c.state AS c_state,
               c.country AS c_country,
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
        INSERT INTO customer_history_closed (customer_id, first_name,
            last_name, email, street, city, state, country, start_time,
            end_time)
        SELECT s.customer_id, s.c_first_name, s.c_last_name, s.c_email,
               s.c_street, s.c_city, s.c_state, s.c_country, s.c_ts, s.ts
        FROM s WHERE s.fast AND s.live AND s.closes
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

    -- Other keys: a sequence from the current state (the init row, at the
    -- start of the current version: before every new event of a key that
    -- is not late) with the new events, or for a late key all its events
    -- from nothing.
    CREATE TEMP TABLE scd_seq ON COMMIT DROP AS
        SELECT c.customer_id, c.update_timestamp AS ts, ''::text AS f,
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
    SELECT versions + count(*) FILTER (WHERE NOT v.init AND NOT v.gone)
    INTO versions FROM scd_version v;
    PERFORM set_config('enable_hashjoin', 'off', true),
            set_config('enable_mergejoin', 'off', true);

    -- Late keys: their closed versions are rebuilt whole.
    DELETE FROM customer_history_closed h USING scd_key k
    WHERE k.late AND h.customer_id = k.customer_id;

    -- Every version that a later group ends, the init one too.
    INSERT INTO customer_history_closed (customer_id, first_name, last_name,
        email, street, city, state, country, start_time, end_time)
    SELECT v.customer_id, v.first_name, v.last_name, v.email, v.street,
           v.city, v.state, v.country, v.start_time, v.end_time
    FROM scd_version v
    WHERE NOT v.gone AND v.end_time IS NOT NULL;

    -- customer: the last state of each key, its open version.
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
        update_timestamp = excluded.update_timestamp
    WHERE (c.first_name, c.last_name, c.email, c.street, c.city, c.state,
           c.country, c.update_timestamp)
          IS DISTINCT FROM (excluded.first_name, excluded.last_name,
           excluded.email, excluded.street, excluded.city, excluded.state,
           excluded.country, excluded.update_timestamp);

    PERFORM finish_merge(ids, last_ts, hashjoin, mergejoin, true);
END
$$;

-- Checks DESIGN §4's invariants; returns the offending keys (at most lim)
-- with what is wrong, the smallest key first, nothing when all hold.
-- customer is the current versions, so what can go wrong is in the
-- closed ones: an interval backwards, one left open, or versions that
-- overlap (each other, or the current one).
CREATE OR REPLACE FUNCTION scd_verify(lim bigint DEFAULT 1)
RETURNS TABLE (customer_id bigint, problem text)
LANGUAGE sql STABLE AS $$
    WITH h AS (
        SELECT h.customer_id, h.start_time, h.end_time,
               lead(h.start_time) OVER w AS next_start
        FROM customer_history h
        WINDOW w AS (PARTITION BY h.customer_id ORDER BY h.start_time, h.end_time)
    ), p AS (
        SELECT h.customer_id, 'start_time after end_time' AS problem
        FROM h WHERE h.start_time > h.end_time
        UNION ALL
        SELECT h.customer_id, 'closed version without an end'
        FROM customer_history_closed h
        WHERE h.end_time = '9999-12-31 00:00:00+00'
        UNION ALL
        SELECT h.customer_id, 'overlapping versions'
        FROM h WHERE h.next_start < h.end_time
    )
    SELECT p.customer_id, min(p.problem) FROM p
    GROUP BY p.customer_id ORDER BY p.customer_id LIMIT lim
$$;
