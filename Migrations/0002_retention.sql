-- Sequencer schema, version 2: what retention needs.
--
-- Retention deletes final enrollments by status, oldest first, in small batches
-- (PostgresStore.prune). This partial index holds only final enrollments, so a
-- batch finds its rows without reading active ones, and a drain that finishes
-- enrollments adds to it only as they finish. Events and deliveries of a deleted
-- enrollment are found through events_enrollment and the deliveries primary key.
CREATE INDEX enrollments_finished
    ON enrollments (status, updated_at)
    WHERE status IN ('completed', 'cancelled', 'failed');
