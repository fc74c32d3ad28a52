-- Named invariant queries over the canonical schema (batches, items, transitions, workers, results).
-- Every row returned is one violation. A target file can override any query by name
-- (database.invariants.<name>). Parameters: %(max_duration_s)s, %(heartbeat_grace_s)s,
-- %(max_deliveries)s, %(batch_id)s (NULL = every batch).

-- name: stuck_processing
-- doc: items in processing longer than the maximum duration (the seed's "stuck jobs" query)
SELECT i.id::text AS item_id, i.batch_id::text AS batch_id, i.seq, i.worker_id,
       round(EXTRACT(EPOCH FROM (now() - i.updated_at))::numeric, 3) AS seconds_since_update
FROM items i
WHERE i.status = 'processing'
  AND i.updated_at < now() - make_interval(secs => %(max_duration_s)s)
  AND (%(batch_id)s::uuid IS NULL OR i.batch_id = %(batch_id)s::uuid)
ORDER BY i.updated_at;

-- name: stuck_batches
-- doc: batches not terminal whose items saw no update for longer than the maximum duration
SELECT b.id::text AS batch_id, b.status,
       round(EXTRACT(EPOCH FROM (now() - max(i.updated_at)))::numeric, 3) AS seconds_since_update
FROM batches b JOIN items i ON i.batch_id = b.id
WHERE b.status IN ('queued', 'processing', 'retrying')
  AND (%(batch_id)s::uuid IS NULL OR b.id = %(batch_id)s::uuid)
GROUP BY b.id, b.status
HAVING max(i.updated_at) < now() - make_interval(secs => %(max_duration_s)s);

-- name: completed_without_output
-- doc: items completed with no stored result
SELECT i.id::text AS item_id, i.batch_id::text AS batch_id, i.seq
FROM items i
WHERE i.status = 'completed'
  AND (i.output IS NULL OR NOT EXISTS (SELECT 1 FROM results r WHERE r.item_id = i.id))
  AND (%(batch_id)s::uuid IS NULL OR i.batch_id = %(batch_id)s::uuid);

-- name: processing_with_dead_worker
-- doc: items processing although their worker stopped heartbeating (and nobody took them over)
SELECT i.id::text AS item_id, i.batch_id::text AS batch_id, i.seq, i.worker_id
FROM items i
WHERE i.status = 'processing'
  AND (%(batch_id)s::uuid IS NULL OR i.batch_id = %(batch_id)s::uuid)
  AND NOT EXISTS (
    SELECT 1 FROM workers w
    WHERE w.id = i.worker_id
      AND w.last_heartbeat > now() - make_interval(secs => %(heartbeat_grace_s)s));

-- name: completed_batch_with_failed_items
-- doc: a batch reported completed although some of its items are not completed
SELECT b.id::text AS batch_id, b.status,
       count(*) FILTER (WHERE i.status <> 'completed') AS not_completed,
       count(*) FILTER (WHERE i.status IN ('failed', 'dead', 'timeout')) AS failed_count
FROM batches b JOIN items i ON i.batch_id = b.id
WHERE b.status = 'completed'
  AND (%(batch_id)s::uuid IS NULL OR b.id = %(batch_id)s::uuid)
GROUP BY b.id, b.status
HAVING count(*) FILTER (WHERE i.status <> 'completed') > 0;

-- name: duplicate_outputs
-- doc: more than one committed result for one item
SELECT r.item_id::text AS item_id, count(*) AS results, array_agg(DISTINCT r.worker_id) AS workers
FROM results r
WHERE (%(batch_id)s::uuid IS NULL OR r.batch_id = %(batch_id)s::uuid)
GROUP BY r.item_id
HAVING count(*) > 1;

-- name: completed_twice
-- doc: an item that entered completed more than once in the transition log
SELECT t.entity_id::text AS item_id, count(*) AS completions, array_agg(t.worker_id) AS workers
FROM transitions t
WHERE t.entity = 'item' AND t.to_state = 'completed'
  AND (%(batch_id)s::uuid IS NULL OR t.batch_id = %(batch_id)s::uuid)
GROUP BY t.entity_id
HAVING count(*) > 1;

-- name: illegal_transitions
-- doc: a transition out of a terminal state, into completed from anything but processing, or a
-- doc: from_state that is not the entity's previous state (a lost or forged transition)
WITH log AS (
  SELECT t.*, lag(t.to_state) OVER (PARTITION BY t.entity, t.entity_id ORDER BY t.id) AS prev_state
  FROM transitions t
  WHERE (%(batch_id)s::uuid IS NULL OR t.batch_id = %(batch_id)s::uuid)
)
SELECT entity, entity_id::text AS entity_id, from_state, to_state, prev_state, reason, worker_id,
       to_char(at, 'HH24:MI:SS.MS') AS at
FROM log
WHERE from_state IN ('completed', 'cancelled')
   OR (entity = 'item' AND to_state = 'completed' AND from_state IS DISTINCT FROM 'processing')
   OR (prev_state IS NOT NULL AND from_state IS DISTINCT FROM prev_state)
ORDER BY id;

-- name: attempts_over_limit
-- doc: provider attempts beyond the item's attempt ceiling (items.max_attempts: raised by each user
-- doc: retry, so an infinite retry loop shows here)
SELECT i.id::text AS item_id, i.seq, i.attempts, i.max_attempts, i.retry_count
FROM items i
WHERE i.attempts > i.max_attempts
  AND (%(batch_id)s::uuid IS NULL OR i.batch_id = %(batch_id)s::uuid);

-- name: deliveries_over_limit
-- doc: an item delivered more often than the dead-letter limit and still not dead-lettered
SELECT i.id::text AS item_id, i.seq, i.deliveries, i.status
FROM items i
WHERE i.deliveries > %(max_deliveries)s * (i.retry_count + 1) AND i.status <> 'dead'
  AND (%(batch_id)s::uuid IS NULL OR i.batch_id = %(batch_id)s::uuid);

-- name: batch_rollup_mismatch
-- doc: a terminal batch status that its item states do not support
SELECT b.id::text AS batch_id, b.status,
       count(*) FILTER (WHERE i.status = 'completed') AS completed,
       count(*) FILTER (WHERE i.status IN ('failed', 'dead', 'timeout')) AS failed,
       count(*) AS total
FROM batches b JOIN items i ON i.batch_id = b.id
WHERE (%(batch_id)s::uuid IS NULL OR b.id = %(batch_id)s::uuid)
GROUP BY b.id, b.status
HAVING (b.status = 'failed' AND count(*) FILTER (WHERE i.status = 'completed') > 0
        AND count(*) FILTER (WHERE i.status IN ('failed', 'dead', 'timeout')) > 0
        AND bool_and(i.status IN ('completed', 'failed', 'dead', 'timeout', 'cancelled')))
    OR (b.status = 'partial' AND (count(*) FILTER (WHERE i.status = 'completed') = 0
                                  OR count(*) FILTER (WHERE i.status = 'completed') = count(*)));
