-- Which dispatcher is sending a delivery right now. Each dispatcher process
-- holds a session advisory lock named by a random owner id; a delivery it
-- sends carries that id until its outcome is recorded. A claim whose owner's
-- lock no session holds belongs to a process that died mid-delivery: another
-- dispatcher gives that delivery a new job within seconds, instead of waiting
-- for pg-boss to expire the dead process's job.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by integer;
-- The reaper looks up claimed deliveries every few seconds; there are only as many as deliveries in flight.
CREATE INDEX webhook_deliveries_claimed ON webhook_deliveries (claimed_by) WHERE claimed_by IS NOT NULL;
