-- The projection and the loader never stop on one bad value or one bad update.

-- Updates that could not be applied: Yjs threw on them, or they left structs
-- or deletions waiting for structs the document does not have. The bytes are
-- kept here; the log row's `update` becomes an empty Yjs update (0x0000), so
-- seq stays dense and every reader skips it. A quarantined snapshot is
-- replaced by what of it applied (or by an empty update); if the rows it
-- covered were compacted away, these bytes are their only copy.
CREATE TABLE doc_quarantine (
  id bigserial PRIMARY KEY,
  doc_name text NOT NULL,
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  -- 'row': a doc_log row; 'snapshot': a doc_snapshots state (seq is its upto_seq).
  source text NOT NULL CHECK (source IN ('row', 'snapshot')),
  seq bigint NOT NULL,
  update bytea NOT NULL,
  -- Who wrote the row (null for a snapshot) and when it was logged.
  user_id text,
  received_at timestamptz,
  -- `<kind>: <detail>`; kinds: yjs_error, missing_structs, missing_deletes, live_apply_failed.
  reason text NOT NULL,
  quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX doc_quarantine_doc ON doc_quarantine (doc_name, seq);
CREATE INDEX doc_quarantine_dialog ON doc_quarantine (dialog_id);

-- The search vector of a message of many distinct words can pass tsvector's
-- 1 MB limit, and then the row cannot be written at all. A character of text
-- makes at most about 6 bytes of vector (distinct one-letter words of 4-byte
-- characters: 520 kB for 100,000 characters), so the first 100,000 always fit; the projection cuts body_text at
-- MAX_MESSAGE_CHARS anyway (20,000 by default). PostgreSQL 15 cannot change a
-- generated column's expression, so the column and its index are rebuilt
-- (this rewrites the messages table once).
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search;
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('russian', left(body_text, 100000))) STORED;
CREATE INDEX messages_search ON messages USING gin (search);
