-- Core engine: the dialog registry, the durable per-document update log with
-- snapshots, client-id bindings, message arrival order, and the projection
-- tables materialized from the documents.

CREATE TABLE projects (
  id text PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projects (id, name) VALUES ('default', 'Default project');

-- Which dialogs exist and where they belong. Their content (metadata,
-- participants, scopes) lives in the meta document and is projected below.
CREATE TABLE dialog_registry (
  id uuid PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (id),
  -- Last arrival sequence number handed out; the row lock orders arrivals per dialog.
  last_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The log: every accepted update, in order per document. `seq` is dense per
-- document, so a reader never skips a row that commits late.
CREATE TABLE doc_log (
  doc_name text NOT NULL,
  seq bigint NOT NULL,
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  update bytea NOT NULL,
  user_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (doc_name, seq)
);

CREATE TABLE doc_heads (
  doc_name text PRIMARY KEY,
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  head_seq bigint NOT NULL
);
CREATE INDEX doc_heads_dialog ON doc_heads (dialog_id);

-- The merged state of a document up to `upto_seq`; log rows at or below it may be compacted away.
CREATE TABLE doc_snapshots (
  doc_name text PRIMARY KEY,
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  state bytea NOT NULL,
  upto_seq bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A Yjs client id belongs to the first user who wrote with it in a dialog.
CREATE TABLE client_bindings (
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  client_id bigint NOT NULL,
  user_id text NOT NULL,
  bound_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dialog_id, client_id)
);

-- When the server first accepted each message: the order of arrival is not in
-- the document, so it is logged here beside the update that carried it.
CREATE TABLE message_arrivals (
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  message_id uuid NOT NULL,
  seq bigint NOT NULL,
  doc_name text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dialog_id, message_id),
  UNIQUE (dialog_id, seq)
);

-- Contact details are kept out of documents, which potential participants can read.
CREATE TABLE participant_contacts (
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  email text,
  phone text,
  PRIMARY KEY (dialog_id, user_id)
);

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  dialog_id uuid,
  doc_name text,
  user_id text,
  action text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}'
);

-- Projection: rows derived from the documents by the projection worker.
CREATE TABLE projection_checkpoints (
  doc_name text PRIMARY KEY,
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  seq bigint NOT NULL
);

CREATE TABLE dialogs (
  id uuid PRIMARY KEY REFERENCES dialog_registry (id) ON DELETE CASCADE,
  project_id text NOT NULL,
  object_type text NOT NULL,
  object_id text NOT NULL,
  title text,
  object_url text,
  created_by text,
  created_at timestamptz NOT NULL,
  meta jsonb NOT NULL DEFAULT '{}',
  head_segment integer NOT NULL DEFAULT 0
);
CREATE INDEX dialogs_object ON dialogs (project_id, object_type, object_id);

CREATE TABLE participants (
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  display_name text NOT NULL,
  company text,
  role text NOT NULL,
  joined_at timestamptz NOT NULL,
  PRIMARY KEY (dialog_id, user_id)
);
CREATE INDEX participants_user ON participants (user_id);

CREATE TABLE access_scopes (
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  position integer NOT NULL,
  tenant_uid text NOT NULL,
  scope_level1 text[] NOT NULL,
  scope_level2 text[] NOT NULL,
  PRIMARY KEY (dialog_id, position)
);
CREATE INDEX access_scopes_tenant ON access_scopes (tenant_uid);

CREATE TABLE messages (
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  segment integer NOT NULL,
  seq bigint,
  author_id text NOT NULL,
  kind text NOT NULL,
  body_text text NOT NULL,
  body jsonb NOT NULL,
  reply_to uuid,
  attachments jsonb NOT NULL DEFAULT '[]',
  -- The sender's clock, never later than the server's receipt.
  created_at timestamptz NOT NULL,
  received_at timestamptz,
  edited_at timestamptz,
  deleted boolean NOT NULL DEFAULT false,
  system jsonb,
  PRIMARY KEY (dialog_id, id)
);
CREATE INDEX messages_timeline ON messages (dialog_id, created_at, id);
CREATE INDEX messages_seq ON messages (dialog_id, seq);

CREATE TABLE read_cursors (
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  message_id uuid NOT NULL,
  read_at timestamptz NOT NULL,
  PRIMARY KEY (dialog_id, user_id)
);
