-- CustomerTrack on Snowflake, schema 1: the file format and the tables
-- (DESIGN §2, mirroring sql/postgres/001_init.sql and 002_scd.sql).
-- An applied migration is never edited: add a new numbered file instead.
--
-- Snowflake commits each DDL statement by itself, so a file that fails
-- half-way is not rolled back: every statement here may run twice
-- (IF NOT EXISTS) and the file can simply be applied again.

-- The interchange CSV (DESIGN §1): one header row, '"' quoting, an
-- unquoted empty field is NULL (EMPTY_FIELD_AS_NULL), a quoted "" is the
-- empty string, and no other text means NULL (NULL_IF = (), so a literal
-- \N stays text, as in PostgreSQL's CSV COPY).  The op column is optional:
-- a 9-column file loads with op NULL.
CREATE FILE FORMAT IF NOT EXISTS customer_csv
    TYPE = CSV
    FIELD_DELIMITER = ','
    SKIP_HEADER = 1
    FIELD_OPTIONALLY_ENCLOSED_BY = '"'
    EMPTY_FIELD_AS_NULL = TRUE
    NULL_IF = ()
    TRIM_SPACE = FALSE
    ERROR_ON_COLUMN_COUNT_MISMATCH = FALSE
    TIMESTAMP_FORMAT = 'AUTO'
    ENCODING = 'UTF8'
    COMMENT = 'CustomerTrack interchange CSV (DESIGN section 1)';

-- Every loaded row, append-only.  _file is the file's path within the
-- stage (METADATA$FILENAME), _row its record number
-- (METADATA$FILE_ROW_NUMBER), _loaded_at when the load scanned it.
-- Snowflake keeps the load history itself (COPY_HISTORY), so there is no
-- load_history table and no _load_id here.
CREATE TABLE IF NOT EXISTS customer_raw (
    customer_id      NUMBER(19, 0),
    first_name       VARCHAR,
    last_name        VARCHAR,
    email            VARCHAR,
    street           VARCHAR,
    city             VARCHAR,
    state            VARCHAR,
    country          VARCHAR,
    update_timestamp TIMESTAMP_TZ(6),
    op               VARCHAR,
    _file            VARCHAR         NOT NULL,
    _row             NUMBER(19, 0)   NOT NULL,
    _loaded_at       TIMESTAMP_LTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP()
);

-- SCD Type 1: one row per live customer, its latest values; the
-- update_timestamp is the start_time of the key's current version.
CREATE TABLE IF NOT EXISTS customer (
    customer_id      NUMBER(19, 0)   NOT NULL PRIMARY KEY,
    first_name       VARCHAR,
    last_name        VARCHAR,
    email            VARCHAR,
    street           VARCHAR,
    city             VARCHAR,
    state            VARCHAR,
    country          VARCHAR,
    update_timestamp TIMESTAMP_TZ(6) NOT NULL
);

-- SCD Type 2: every version, valid over [start_time, end_time); the
-- current one ends at 9999-12-31 00:00:00+00.
CREATE TABLE IF NOT EXISTS customer_history (
    customer_id      NUMBER(19, 0)   NOT NULL,
    first_name       VARCHAR,
    last_name        VARCHAR,
    email            VARCHAR,
    street           VARCHAR,
    city             VARCHAR,
    state            VARCHAR,
    country          VARCHAR,
    start_time       TIMESTAMP_TZ(6) NOT NULL,
    end_time         TIMESTAMP_TZ(6) NOT NULL,
    is_current       BOOLEAN         NOT NULL
);

-- The keys of the merge in progress (or of the last one).  customer_merge()
-- empties it first: that DELETE takes the table's lock until COMMIT, which
-- is what keeps two merges from running at once.
CREATE TRANSIENT TABLE IF NOT EXISTS customer_merge_keys (
    customer_id NUMBER(19, 0) NOT NULL
);

-- One row per merge that found work, written in the merge's transaction.
CREATE TABLE IF NOT EXISTS merge_history (
    merged_at TIMESTAMP_LTZ(6) NOT NULL,
    keys      NUMBER(19, 0)    NOT NULL,
    versions  NUMBER(19, 0)    NOT NULL
);

-- One row per run of the check task: how many invariants were broken.
CREATE TABLE IF NOT EXISTS scd_checks (
    checked_at TIMESTAMP_LTZ(6) NOT NULL,
    violations NUMBER(19, 0)    NOT NULL
);
