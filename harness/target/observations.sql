-- Named observations over the canonical schema (batches, items, transitions, workers, results):
-- what scenarios read from a target's own store, by name. A target file replaces any of them under
-- database.observations.<name> (same parameters, same columns), or sets one to null when it
-- cannot answer it: the scenarios needing it then end `unknown`, naming the field.
-- Parameters are text or NULL (NULL = no filter): %(batch_id)s, %(item_id)s. States are the
-- target's own names (observe.state_map maps them onto the canonical ones).

-- name: batches
-- doc: every batch in the store (or one): batch_id, state, items (how many items it has)
SELECT b.id::text AS batch_id, b.status AS state,
       (SELECT count(*) FROM items i WHERE i.batch_id = b.id) AS items
FROM batches b
WHERE (%(batch_id)s::text IS NULL OR b.id::text = %(batch_id)s::text)
ORDER BY b.created_at;

-- name: items
-- doc: items with their holder (the worker service that holds or last held it) and lease token:
-- doc: item_id, batch_id, seq, state, holder, lease_token, updated_at
SELECT i.id::text AS item_id, i.batch_id::text AS batch_id, i.seq, i.status AS state,
       i.worker_id AS holder, i.fencing_token::text AS lease_token, i.updated_at,
       i.output IS NOT NULL AS has_output
FROM items i
WHERE (%(batch_id)s::text IS NULL OR i.batch_id::text = %(batch_id)s::text)
  AND (%(item_id)s::text IS NULL OR i.id::text = %(item_id)s::text)
ORDER BY i.batch_id, i.seq;

-- name: results
-- doc: one row per committed output: item_id, batch_id, committed_by (the worker service)
SELECT r.item_id::text AS item_id, r.batch_id::text AS batch_id, r.worker_id AS committed_by
FROM results r
WHERE (%(batch_id)s::text IS NULL OR r.batch_id::text = %(batch_id)s::text)
  AND (%(item_id)s::text IS NULL OR r.item_id::text = %(item_id)s::text)
ORDER BY r.id;

-- name: transitions
-- doc: item state changes in the order they happened: item_id, batch_id, from_state, to_state, at, actor
SELECT t.entity_id::text AS item_id, t.batch_id::text AS batch_id, t.from_state, t.to_state, t.at,
       t.worker_id AS actor
FROM transitions t
WHERE t.entity = 'item'
  AND (%(batch_id)s::text IS NULL OR t.batch_id::text = %(batch_id)s::text)
ORDER BY t.id;

-- name: workers
-- doc: the workers the target knows of: worker (the service name), seconds_since_heartbeat
SELECT w.id AS worker, EXTRACT(EPOCH FROM (now() - w.last_heartbeat))::float AS seconds_since_heartbeat
FROM workers w
ORDER BY w.id;
