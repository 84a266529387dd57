-- Web push subscriptions: the browsers (service workers) of each project's
-- users that asked to be woken when a message waits for them with the tab
-- closed. A push service's endpoint names one subscription of one browser, so
-- it is unique across projects: subscribing again from the same browser (or as
-- another user on it) replaces the row. `p256dh` and `auth` are the browser's
-- keys the payload is encrypted to (RFC 8291), base64url as the browser gives them.
CREATE TABLE push_subscriptions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  endpoint text NOT NULL UNIQUE,
  p256dh text NOT NULL,
  auth text NOT NULL,
  user_agent text,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- "Which browsers does this user have?" at every notification, and on erasure.
CREATE INDEX push_subscriptions_user ON push_subscriptions (project_id, user_id);
COMMENT ON TABLE push_subscriptions IS
  'Web push subscriptions per project user: endpoint (unique), the browser''s encryption keys, user agent. Removed when the push service answers 404/410 or the user is erased.';
