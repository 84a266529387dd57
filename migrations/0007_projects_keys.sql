-- Projects are the isolation boundary: each has its own API keys for the
-- Management API and its own keys that verify its users' tokens. Also the
-- shared store of the rate limiter.

-- An API key is `mtk_live_<id>_<secret>`. Only its SHA-256 is kept: the key is
-- shown once, at creation, and cannot be recovered from the database.
CREATE TABLE api_keys (
  id text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{8}$'),
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text NOT NULL,
  -- `mtk_live_<id>`: enough to recognize a key in a listing or a log, useless to authenticate.
  prefix text NOT NULL,
  key_hash bytea NOT NULL CHECK (octet_length(key_hash) = 32),
  scopes text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'admin']),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz
);
CREATE INDEX api_keys_project ON api_keys (project_id, created_at);

-- Keys that verify user tokens of a project (`prj` claim). The default project
-- also accepts JWT_SECRET / JWT_PUBLIC_KEY / JWT_JWKS_URL from the configuration.
-- An HS256 secret must be kept as is to verify signatures with it.
CREATE TABLE jwt_keys (
  id uuid PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('hs256', 'public_key', 'jwks_url')),
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jwt_keys_project ON jwt_keys (project_id, created_at);

-- rate-limiter-flexible's PostgreSQL store (its own table layout): one row per
-- key and window, shared by every replica. Unlogged: counters lost in a crash
-- cost nothing, and the table takes a write per request.
CREATE UNLOGGED TABLE rate_limits (
  key varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);
