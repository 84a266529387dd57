-- Webhooks. The projection writes events into the outbox in the same
-- transaction as the rows they describe; the dispatcher fans each event out to
-- one delivery per endpoint and delivers them through pg-boss jobs, in order
-- per (endpoint, dialog), with retries, and parks what keeps failing in the
-- dead-letter list.

-- Every event ever emitted. `id` is derived from what the event describes
-- (UUIDv5), so a projection that runs again, or replays from zero, inserts
-- nothing new: the row is also the record that dedupes it.
CREATE TABLE webhook_outbox (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  project_id text NOT NULL,
  -- No foreign key: events of a deleted dialog are still delivered.
  dialog_id uuid,
  event text NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set once the dispatcher has created the event's deliveries.
  fanned_out_at timestamptz
);
CREATE INDEX webhook_outbox_unfanned ON webhook_outbox (seq) WHERE fanned_out_at IS NULL;

-- Endpoints set through the Management API (WEBHOOK_URL is the default project's own, outside this table).
CREATE TABLE webhook_endpoints (
  id uuid PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  url text NOT NULL,
  -- The HMAC key is needed in the clear to sign; it is never returned after creation.
  secret text NOT NULL,
  -- NULL: every event.
  events text[],
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_project ON webhook_endpoints (project_id);

-- One event to one endpoint. Deliveries of a chain (endpoint + dialog) go out
-- in `id` order: only the oldest pending one of a chain has a job.
CREATE TABLE webhook_deliveries (
  id bigserial PRIMARY KEY,
  event_seq bigint NOT NULL REFERENCES webhook_outbox (seq) ON DELETE CASCADE,
  -- 'default' (WEBHOOK_URL) or a webhook_endpoints id.
  endpoint_id text NOT NULL,
  chain_key text NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- The pg-boss job that makes the next attempt (a job may pass itself on down the chain); NULL while none is queued.
  job_id uuid,
  last_status integer,
  last_error text,
  delivered_at timestamptz,
  UNIQUE (event_seq, endpoint_id)
);
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (chain_key, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id);
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id) WHERE state = 'pending';

-- Deliveries that failed for good; the Management API lists and replays them.
CREATE TABLE webhook_dead_letters (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  delivery_id bigint NOT NULL UNIQUE REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  project_id text NOT NULL,
  attempts integer NOT NULL,
  last_status integer,
  last_error text,
  dead_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_dead_letters_project ON webhook_dead_letters (project_id, dead_at DESC, id DESC);

-- notification.pending, debounced per recipient and dialog: the window of
-- unread arrivals (by arrival seq) and when it closes.
CREATE TABLE webhook_pending_notifications (
  dialog_id uuid NOT NULL,
  user_id text NOT NULL,
  project_id text NOT NULL,
  first_seq bigint NOT NULL,
  latest_seq bigint NOT NULL,
  due_at timestamptz NOT NULL,
  PRIMARY KEY (dialog_id, user_id)
);
