#!/usr/bin/env bash
# Query plans of the operator queries at 1,000,000 enrollments, against a throwaway cluster:
#   swift build --product sequencer && scripts/with-postgres.sh scripts/plans-at-a-million.sh
set -euo pipefail
S="$(cd "$(dirname "$0")/.." && pwd)/.build/debug/sequencer"
$S migrate >/dev/null
psql "$DATABASE_URL" -q <<'SQL'
SET search_path TO sequencer;
INSERT INTO definitions (name, version, body) VALUES ('drip', 1, '{"name":"drip","version":1,"steps":[{"id":"a","runner":"GoTo","config":{"target":"b"}},{"id":"b","runner":"WaitForDuration","config":{"amount":1,"unit":"days"}}]}');
INSERT INTO enrollments (id, sequence_name, sequence_version, subject, context, step_id, status, next_run_at, step_entered_at, created_at, updated_at)
SELECT gen_random_uuid(), CASE WHEN g % 10 = 0 THEN 'other' ELSE 'drip' END, 1, 'user-' || g, '{}'::jsonb,
       CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END,
       CASE WHEN g % 7 = 0 THEN 'completed' WHEN g % 11 = 0 THEN 'failed' ELSE 'active' END,
       CASE WHEN g % 7 = 0 OR g % 11 = 0 THEN NULL ELSE now() + (g % 1000) * interval '1 hour' END,
       now() - interval '60 days', now() - (g % 90) * interval '1 day', now() - (g % 90) * interval '1 day'
FROM generate_series(1, 1000000) AS g;
INSERT INTO events (enrollment_id, kind, from_step, to_step, visit, at)
SELECT id, 'enrolled', NULL, step_id, 1, created_at FROM enrollments;
-- The failed ones' failure events, spread over the last 90 days.
INSERT INTO events (enrollment_id, kind, from_step, to_step, visit, at)
SELECT id, 'failed', step_id, NULL, 1, updated_at FROM enrollments WHERE status = 'failed';
ANALYZE;
\echo '== list: sequence + status, newest first, a page of 51'
EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM enrollments WHERE sequence_name = 'drip' AND status = 'failed' ORDER BY id DESC LIMIT 51;
\echo '== list: by subject'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM enrollments WHERE subject = 'user-4242' ORDER BY id DESC LIMIT 51;
\echo '== history page'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT * FROM events WHERE enrollment_id = (SELECT enrollment_id FROM events LIMIT 1) AND id > 0 ORDER BY id LIMIT 101;
\echo '== retention batch (doomed rows)'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM enrollments WHERE status = 'completed' AND updated_at < now() - interval '30 days' ORDER BY updated_at LIMIT 1000 FOR UPDATE SKIP LOCKED;
\echo '== step counts (stats)'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT step_id, status, count(*) FROM enrollments WHERE sequence_name = 'drip' AND sequence_version = 1 GROUP BY step_id, status;
\echo '== funnel (PostgresStore.funnel: counters + unfolded deltas, due, last hour failures)'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT c.step_id, c.metric, sum(c.value)::bigint, NULL::timestamptz
FROM (SELECT step_id, metric, value FROM funnel_counters WHERE sequence_name = 'drip' AND sequence_version = 1
      UNION ALL
      SELECT step_id, metric, delta FROM funnel_deltas WHERE sequence_name = 'drip' AND sequence_version = 1) AS c
GROUP BY c.step_id, c.metric
UNION ALL
SELECT NULL, 'due', count(*), min(next_run_at) FROM enrollments
WHERE status = 'active' AND next_run_at <= now() AND sequence_name = 'drip' AND sequence_version = 1
UNION ALL
SELECT NULL, ev.kind, count(*), NULL
FROM events AS ev JOIN enrollments AS e ON e.id = ev.enrollment_id
WHERE ev.kind IN ('failed', 'retrying') AND ev.at > now() - interval '1 hour' AND ev.at <= now()
  AND e.sequence_name = 'drip' AND e.sequence_version = 1
GROUP BY ev.kind;
SQL
echo "== sequencer stats drip (the command, end to end, 1,000,000 enrollments)"
time $S stats drip
