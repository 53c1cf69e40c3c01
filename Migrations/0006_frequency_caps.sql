-- Sequencer schema, version 6: frequency caps count sends per subject and channel.
--
-- Each reservation records the subject the message goes to and its channel ('email', 'sms'),
-- so a capped send can count the subject's other sends on that channel in today's and this
-- week's windows through the index below (recorded sends and reservations; failed ones do not
-- count; `updated_at` is the reservation time of a pending row and the send time of a sent one).
-- Rows written before this version have neither and count for nobody. Adding columns with no
-- default rewrites nothing.
ALTER TABLE deliveries ADD COLUMN subject text, ADD COLUMN channel text;

CREATE INDEX deliveries_by_subject ON deliveries (subject, channel, updated_at)
    WHERE subject IS NOT NULL AND status <> 'failed';
