-- The end-user directory of each project (after Lara's end_users): who the
-- host's users are, so participants can be named by id alone, direct dialogs
-- can respect tenants and notifications can address their recipient. The
-- host's backend manages entries through the Management API (source 'api');
-- a user's first connect fills an entry from the token's claims (source
-- 'token'), which the API later overrides and the token never does.
CREATE TABLE end_users (
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  tenant_uid text,
  display_name text,
  company text,
  email text,
  phone text,
  avatar_url text,
  meta jsonb NOT NULL DEFAULT '{}',
  source text NOT NULL CHECK (source IN ('api', 'token')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, user_id)
);
-- "Does this project keep its directory through the API?" (then it says who exists).
CREATE INDEX end_users_api ON end_users (project_id) WHERE source = 'api';
COMMENT ON TABLE end_users IS
  'Per-project end-user directory: Management API entries (source api) and entries filled from token claims on first connect (source token).';
