-- Sequencer schema, version 1.
--
-- Applied by PostgresStore.migrate() inside one transaction, with search_path set
-- to the configured schema, so table names here are unqualified. Times are
-- timestamptz (microsecond precision). Never edit a released migration: add
-- Migrations/NNNN_name.sql and run scripts/embed-migrations.sh.

-- Definitions are immutable once stored; a change is a new version.
CREATE TABLE definitions (
    name       text        NOT NULL,
    version    integer     NOT NULL CHECK (version >= 1),
    body       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- One row per enrollment: the durable cursor, plus the lease of the ticker
-- working on it. fence is bumped by every claim and every host change; a commit
-- applies only when it presents the current fence. The free space left in each
-- page (fillfactor) lets claims, which change only unindexed columns, be HOT updates.
CREATE TABLE enrollments (
    id               uuid        PRIMARY KEY,
    sequence_name    text        NOT NULL,
    sequence_version integer     NOT NULL,
    subject          text        NOT NULL,
    idempotency_key  text,
    context          jsonb       NOT NULL DEFAULT '{}',
    step_id          text,
    status           text        NOT NULL
        CHECK (status IN ('active', 'paused', 'completed', 'failed', 'cancelled')),
    next_run_at      timestamptz,
    step_entered_at  timestamptz NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    visit            integer     NOT NULL DEFAULT 1,
    last_error       text,
    lease_owner      text,
    lease_expires_at timestamptz,
    fence            bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
) WITH (fillfactor = 90);

-- Idempotent enroll: one enrollment per (sequence, key).
CREATE UNIQUE INDEX enrollments_idempotency_key
    ON enrollments (sequence_name, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Due work. Partial: paused and finished enrollments are not in it, and a
-- claim (which changes only fence and lease columns) is a HOT update.
CREATE INDEX enrollments_due
    ON enrollments (next_run_at)
    WHERE status = 'active';

-- The host's lookups by subject ("where is user-42?").
CREATE INDEX enrollments_subject
    ON enrollments (subject);

-- Append-only history; id gives the order.
CREATE TABLE events (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enrollment_id uuid        NOT NULL,
    kind          text        NOT NULL,
    from_step     text,
    to_step       text,
    message       text,
    visit         integer     NOT NULL,
    at            timestamptz NOT NULL
);

CREATE INDEX events_enrollment
    ON events (enrollment_id, id);

-- One row per message send, keyed by the step visit that sent it, so a step
-- that runs again after a lost lease never sends twice.
CREATE TABLE deliveries (
    enrollment_id       uuid        NOT NULL,
    step_id             text        NOT NULL,
    visit               integer     NOT NULL,
    status              text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed')),
    provider_message_id text,
    attempts            integer     NOT NULL DEFAULT 0,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    PRIMARY KEY (enrollment_id, step_id, visit)
);
