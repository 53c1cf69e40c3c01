-- Sequencer schema, version 3: funnel statistics without reading every enrollment.
--
-- The funnel of a sequence version (PostgresStore.funnel) needs, per step, how many
-- enrollments are there now in each status and how many ever reached it. Counting
-- the version's rows costs what the version holds; these counters cost what its
-- steps are. They are written in the same statement as the change they count, so
-- they are exactly as committed as the enrollments.
--
-- No statement updates a shared total (every ticker would queue on the same rows,
-- and a long host transaction would hold them): each appends a few delta rows to
-- funnel_deltas. PostgresStore.foldStatistics, run by ticks
-- every few seconds, moves them into funnel_counters; a read adds both.
--
-- Metrics, per (sequence, version, step): a status name ('active', 'paused',
-- 'completed', 'failed', 'cancelled'): enrollments at the step now; 'reached':
-- entries into the step (enrolling, moving on, a goal, a move, a migration);
-- and, with step '': 'enrolled', enrollments that entered the version, and
-- 'goal', goals met. Step '' is otherwise "no step" (completed).

CREATE TABLE funnel_counters (
    sequence_name    text    NOT NULL,
    sequence_version integer NOT NULL,
    step_id          text    NOT NULL,
    metric           text    NOT NULL,
    value            bigint  NOT NULL,
    PRIMARY KEY (sequence_name, sequence_version, step_id, metric)
);

CREATE TABLE funnel_deltas (
    sequence_name    text    NOT NULL,
    sequence_version integer NOT NULL,
    step_id          text    NOT NULL,
    metric           text    NOT NULL,
    delta            bigint  NOT NULL
);

CREATE INDEX funnel_deltas_version
    ON funnel_deltas (sequence_name, sequence_version);

-- "Failed / retried in the last hour": the events of those kinds by time, so the
-- count reads the last hour's failures, not the history.
CREATE INDEX events_failures
    ON events (at)
    WHERE kind IN ('failed', 'retrying');

-- Where enrollments are now: triggers on enrollments, so every writer (ticks, host
-- changes, bulk actions, version migrations, retention, hand-written SQL) moves
-- them. Statement triggers with transition tables: one INSERT of deltas per
-- statement, however many rows it changed; a claim or a lease renewal changes no
-- counted column and adds nothing.
CREATE FUNCTION funnel_count_inserted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $body$
BEGIN
    INSERT INTO funnel_deltas (sequence_name, sequence_version, step_id, metric, delta)
    SELECT n.sequence_name, n.sequence_version, coalesce(n.step_id, ''), n.status, count(*)
    FROM inserted_rows AS n
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END
$body$;

-- An update moves a row out of its old (step, status) and into its new one: -1 for
-- each old row, +1 for each new one, summed per key, so rows that kept their step
-- and status (a claim, a renewal, a wait) cancel out and write nothing. No join of
-- the two transition tables: they have no statistics, and a nested loop over them
-- would cost the square of the batch.
CREATE FUNCTION funnel_count_updated() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $body$
BEGIN
    INSERT INTO funnel_deltas (sequence_name, sequence_version, step_id, metric, delta)
    SELECT sequence_name, sequence_version, step_id, metric, sum(delta)
    FROM (SELECT sequence_name, sequence_version, coalesce(step_id, '') AS step_id, status AS metric, -1 AS delta
          FROM old_rows
          UNION ALL
          SELECT sequence_name, sequence_version, coalesce(step_id, ''), status, 1
          FROM new_rows) AS m
    GROUP BY 1, 2, 3, 4
    HAVING sum(delta) <> 0;
    RETURN NULL;
END
$body$;

CREATE FUNCTION funnel_count_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $body$
BEGIN
    INSERT INTO funnel_deltas (sequence_name, sequence_version, step_id, metric, delta)
    SELECT o.sequence_name, o.sequence_version, coalesce(o.step_id, ''), o.status, -count(*)
    FROM deleted_rows AS o
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END
$body$;

CREATE TRIGGER funnel_count_inserted AFTER INSERT ON enrollments
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION funnel_count_inserted();
CREATE TRIGGER funnel_count_updated AFTER UPDATE ON enrollments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION funnel_count_updated();
CREATE TRIGGER funnel_count_deleted AFTER DELETE ON enrollments
    REFERENCING OLD TABLE AS deleted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION funnel_count_deleted();

-- How many got where ('reached', 'enrolled', 'goal') is history, not state: one
-- commit can take an enrollment through several steps. The statements that write
-- events count them in the same statement (PostgresStore's `entries` CTE beside
-- each history insert), from the events they write.

-- What existed before this migration: the gauges and entries into each version
-- from the enrollments, the reached and goal counts from their history (entries
-- into steps of their current version; history retention already deleted is not
-- counted). One pass over each table, once.
INSERT INTO funnel_counters (sequence_name, sequence_version, step_id, metric, value)
SELECT sequence_name, sequence_version, step_id, metric, sum(value) FROM (
    SELECT sequence_name, sequence_version, coalesce(step_id, '') AS step_id, status AS metric, count(*) AS value
    FROM enrollments GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT sequence_name, sequence_version, '', 'enrolled', count(*) FROM enrollments GROUP BY 1, 2
    UNION ALL
    SELECT e.sequence_name, e.sequence_version, coalesce(nullif(ev.to_step, '$end'), ''), 'reached', count(*)
    FROM events AS ev JOIN enrollments AS e ON e.id = ev.enrollment_id
    WHERE ev.kind IN ('enrolled', 'advanced', 'altAdvanced', 'goalReached', 'moved')
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT e.sequence_name, e.sequence_version, '', 'goal', count(*)
    FROM events AS ev JOIN enrollments AS e ON e.id = ev.enrollment_id
    WHERE ev.kind = 'goalReached'
    GROUP BY 1, 2, 3, 4
) AS existing
GROUP BY 1, 2, 3, 4;
