-- Attachments: one row per file a participant uploads to a dialog. A presign
-- creates it `pending`; finalizing checks the stored bytes (size, real type)
-- and makes it `ready`, or `rejected` (and deletes the object). Messages refer
-- to ready attachments by id.
CREATE TABLE attachments (
  id uuid PRIMARY KEY,
  project_id text NOT NULL,
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  uploader_id text NOT NULL,
  -- dialogs/<dialog_id>/<id>/<sanitized filename>, in the configured storage.
  key text NOT NULL UNIQUE,
  -- The name as the uploader gave it (shown to users; the key holds a sanitized copy).
  filename text NOT NULL,
  -- What the client declared at presign.
  content_type text NOT NULL,
  declared_size bigint NOT NULL,
  -- What finalizing found in the bytes.
  mime text,
  size bigint,
  width integer,
  height integer,
  thumbnail_key text,
  thumbnail_width integer,
  thumbnail_height integer,
  -- The object's version (ETag) when it was checked; a download of anything else is refused.
  version text,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'rejected')),
  rejection_kind text,
  rejection_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  finalized_at timestamptz
);
CREATE INDEX attachments_dialog ON attachments (dialog_id, created_at);
CREATE INDEX attachments_pending ON attachments (created_at) WHERE status = 'pending';
