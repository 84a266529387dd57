-- Dialog kinds, auto-archive, reactions, and each user's private state
-- (archive, pin, notifications), projected from the user's own document.

-- A registry entry is a dialog, or a user's state document (owner set).
ALTER TABLE dialog_registry ADD COLUMN owner_user_id text;

-- object | direct | self | group | channel (dialogKinds in the protocol package).
ALTER TABLE dialogs ADD COLUMN kind text NOT NULL DEFAULT 'object';
-- The newest message (by arrival) when the server auto-archived the dialog.
ALTER TABLE dialogs ADD COLUMN auto_archived_through uuid;
CREATE INDEX dialogs_kind ON dialogs (project_id, kind);

-- Emoji → user ids who reacted with it.
ALTER TABLE messages ADD COLUMN reactions jsonb NOT NULL DEFAULT '{}';

-- The newest message of a dialog by arrival, for lists, unread counts and auto-archive.
CREATE INDEX messages_arrival ON messages (dialog_id, seq DESC) INCLUDE (received_at);

-- get-or-create for direct and self dialogs: one dialog per key and project.
CREATE TABLE dialog_keys (
  project_id text NOT NULL REFERENCES projects (id),
  key text NOT NULL,
  dialog_id uuid NOT NULL REFERENCES dialog_registry (id) ON DELETE CASCADE,
  PRIMARY KEY (project_id, key)
);

-- Projection of user state documents: one row per (user, dialog) the user set anything for.
-- `archived`/`archived_through` follow the ArchiveMark of the protocol: the mark is current
-- only while `archived_through` is still the dialog's newest message.
CREATE TABLE user_dialog_state (
  project_id text NOT NULL,
  user_id text NOT NULL,
  dialog_id uuid NOT NULL,
  pinned boolean NOT NULL DEFAULT false,
  notifications_enabled boolean NOT NULL DEFAULT true,
  archived boolean,
  archived_through uuid,
  PRIMARY KEY (project_id, user_id, dialog_id)
);
CREATE INDEX user_dialog_state_dialog ON user_dialog_state (dialog_id);
