-- The dispatcher finds the delivery a pg-boss job is working on by the job's id
-- (a job may pass itself on down its chain), so that lookup needs an index.
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id) WHERE state = 'pending';
