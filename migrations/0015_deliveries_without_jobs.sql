-- Deliveries are their own queue: a dispatcher claims the heads of chains that
-- are due straight from webhook_deliveries (claimed_by, under its owner lock)
-- and records each outcome in the statement that claims the chain's next head.
-- A pg-boss job per delivery cost about six round trips and two transactions
-- per event; the job id column and its index go with them. (Jobs an older
-- dispatcher left in pg-boss's webhook-deliver queue are never consumed; they
-- expire there.)
DROP INDEX IF EXISTS webhook_deliveries_job;
ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS job_id;
-- The claim reads the oldest pending deliveries (a few hundred), and finds
-- every chain's head and what is in flight among them.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE state = 'pending';
COMMENT ON COLUMN webhook_deliveries.claimed_by IS
  'Owner id of the dispatcher sending this delivery now (its session advisory lock 7283515/owner); NULL when nobody is.';
