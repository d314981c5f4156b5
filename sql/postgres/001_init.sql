-- CustomerTrack schema 1: the loading side (DESIGN §2).
-- An applied migration is never edited: add a new numbered file instead.

-- Every loaded row, append-only.  _load_id ties a row to the load that
-- brought it (load_history.load_id), so a forced reload stays distinct.
CREATE TABLE customer_raw (
    customer_id      bigint,
    first_name       text,
    last_name        text,
    email            text,
    street           text,
    city             text,
    state            text,
    country          text,
    update_timestamp timestamptz,
    op               text,
    _file            text        NOT NULL,
    _row             bigint      NOT NULL,
    _loaded_at       timestamptz NOT NULL DEFAULT now(),
    _load_id         bigint      NOT NULL
);
CREATE INDEX customer_raw_load_id ON customer_raw (_load_id);

-- One row per staged file and load attempt.
CREATE TABLE load_history (
    load_id       bigserial   PRIMARY KEY,
    stage         text        NOT NULL,
    file          text        NOT NULL,
    etag          text        NOT NULL,
    size          bigint      NOT NULL,
    status        text        NOT NULL
                  CHECK (status IN ('loaded', 'partially_loaded', 'failed', 'skipped')),
    rows_loaded   bigint      NOT NULL DEFAULT 0,
    rows_rejected bigint      NOT NULL DEFAULT 0,
    first_error   text,
    forced        boolean     NOT NULL DEFAULT false,
    loaded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX load_history_file ON load_history (file, etag);
-- A file (name and ETag) is recorded once per stage, whatever the outcome,
-- unless a load was forced: a concurrent second run cannot load it again.
CREATE UNIQUE INDEX load_history_once ON load_history (stage, file, etag)
    WHERE NOT forced;
CREATE INDEX load_history_loaded_at ON load_history (loaded_at);

-- One row per rejected input row.
CREATE TABLE load_errors (
    load_id  bigint NOT NULL REFERENCES load_history (load_id),
    file     text   NOT NULL,
    line     bigint NOT NULL,
    reason   text   NOT NULL,
    raw      text
);
CREATE INDEX load_errors_load_id ON load_errors (load_id);
