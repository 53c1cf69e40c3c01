-- Sequencer schema, version 7: steps that wait for a callback from an outside system.
--
-- `callback` holds the state of the callback the enrollment's current step waits for (when the
-- wait began, its deadline and heartbeat interval, the last heartbeat and progress, and how it
-- ended), or NULL. Adding a column with no default rewrites nothing.
--
-- `secrets` keeps the key callback tokens are made with (an HMAC of the enrollment and visit):
-- made once, here, from two random UUIDs (244 random bits from PostgreSQL's strong random
-- source), and read by every process, so a token made by one ticker is accepted by any. Tokens
-- themselves are stored nowhere.
ALTER TABLE enrollments ADD COLUMN callback jsonb;

CREATE TABLE secrets (
    name  text PRIMARY KEY,
    value text NOT NULL
);

INSERT INTO secrets (name, value)
VALUES ('callback', encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'));
