-- Sequencer schema, version 5: recurring schedules.
--
-- One row per schedule (Sequencer.schedule). `definition` is the schedule's JSON form
-- (Schedule.jsonValue); `enabled` repeats its "enabled" member for the index. Any ticker fires
-- a due schedule: it locks the row with FOR UPDATE SKIP LOCKED, enrolls the occurrence's subject
-- and advances next_fire_at in one transaction, so each occurrence fires once however many
-- tickers run. The partial index serves the "what is due" question, so its cost follows the
-- schedules that are due.
CREATE TABLE schedules (
    name                      text        PRIMARY KEY,
    definition                jsonb       NOT NULL,
    enabled                   boolean     NOT NULL,
    anchor                    timestamptz NOT NULL,
    next_fire_at              timestamptz,
    last_fired_at             timestamptz,
    last_enrollment_id        uuid,
    fired                     bigint      NOT NULL DEFAULT 0,
    skipped                   bigint      NOT NULL DEFAULT 0,
    last_skip_at              timestamptz,
    last_skip_reason          text,
    previous_run_id           uuid,
    previous_run_completed_at timestamptz,
    previous_run_context      jsonb,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL
);

CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE enabled AND next_fire_at IS NOT NULL;
