-- CustomerTrack on Snowflake, schema 2: loading, and the change stream.
-- An applied migration is never edited: add a new numbered file instead.
--
-- Needs the external stage customer_stage, which names the bucket and the
-- storage integration and so is made by hand once per account (see
-- docs/snowflake.md, "External stage").  IF NOT EXISTS on purpose: OR
-- REPLACE would drop the pipe's load history (files would load again) and
-- the stream's offset (rows would be merged again or never).

-- Snowpipe: each new file under the stage, as S3 announces it, loaded once
-- into customer_raw with its name and record numbers.  The columns are
-- named and the CSV fields selected by position, so a 9-column file (no
-- op) loads with op NULL.  A row that does not convert (a customer_id that
-- is no integer, a bad timestamp) is skipped and reported by COPY_HISTORY;
-- the rest of its file loads (snow-load --on-error continue).  The load
-- time comes from METADATA$START_SCAN_TIME, not CURRENT_TIMESTAMP(),
-- which Snowflake advises against in a pipe.
CREATE PIPE IF NOT EXISTS customer_pipe
    AUTO_INGEST = TRUE
    COMMENT = 'CustomerTrack: staged customer_*.csv into customer_raw'
AS
COPY INTO customer_raw (
    customer_id, first_name, last_name, email, street, city, state,
    country, update_timestamp, op, _file, _row, _loaded_at
)
FROM (
    SELECT
        $1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
        METADATA$FILENAME,
        METADATA$FILE_ROW_NUMBER,
        METADATA$START_SCAN_TIME
    FROM @customer_stage
)
FILE_FORMAT = (FORMAT_NAME = 'customer_csv')
PATTERN = '.*customer_[0-9]{14}(_[0-9]+)?[.]csv'
ON_ERROR = CONTINUE;

-- The rows not yet merged: an append-only stream, consumed (its offset
-- moved) only when customer_merge() commits.
CREATE STREAM IF NOT EXISTS customer_raw_stream
    ON TABLE customer_raw
    APPEND_ONLY = TRUE
    COMMENT = 'CustomerTrack: raw rows not yet merged';
