-- Sequencer schema, version 4: one active enrollment per subject, for sequences that ask.
--
-- A sequence with "uniqueSubject" (SequenceDefinition.uniqueSubject) allows at most one
-- active or paused enrollment per (sequence, subject), across its versions. Each of its
-- enrollments carries the policy it was enrolled under ('returnExisting' or 'reject'),
-- and this partial unique index enforces the rule in the database, so concurrent enrolls
-- (and host transactions that roll back) leave exactly one. Finished enrollments leave the
-- index: the subject can then be enrolled again. Adding a column with no default rewrites
-- nothing.
ALTER TABLE enrollments ADD COLUMN unique_subject text
    CHECK (unique_subject IN ('returnExisting', 'reject'));

CREATE UNIQUE INDEX enrollments_unique_subject
    ON enrollments (sequence_name, subject)
    WHERE unique_subject IS NOT NULL AND status IN ('active', 'paused');
