-- Stable, documented views for analysts, in their own schema, readable by the
-- group role mtchat_analyst. The views run with their owner's rights, so the
-- role reads them without any right on the tables underneath: not the update
-- log, the audit log, API keys or message bodies. Operators grant the role to
-- an analyst's login role (see the README's "Analytics" section).

CREATE SCHEMA analytics;
COMMENT ON SCHEMA analytics IS 'Read-only views over the projection for analysts; stable across releases.';

CREATE VIEW analytics.messages AS
SELECT
  m.id AS message_id,
  m.dialog_id,
  d.project_id,
  d.object_type,
  d.object_id,
  m.author_id AS sender_id,
  m.kind AS message_type,
  m.created_at AS sent_at,
  m.received_at,
  m.seq,
  m.edited_at IS NOT NULL AS edited,
  m.edited_at,
  m.deleted,
  char_length(m.body_text) AS length,
  CASE WHEN jsonb_typeof(m.attachments) = 'array' THEN jsonb_array_length(m.attachments) ELSE 0 END AS attachments_count,
  CASE WHEN jsonb_typeof(m.attachments) = 'array' THEN jsonb_array_length(m.attachments) > 0 ELSE false END AS has_attachments,
  m.reply_to IS NOT NULL AS is_reply,
  m.reply_to AS reply_to_id,
  m.system ->> 'event' AS system_event
FROM messages m
JOIN dialogs d ON d.id = m.dialog_id;

COMMENT ON VIEW analytics.messages IS 'One row per message (user and system), without its text. Deleted messages stay, flagged.';
COMMENT ON COLUMN analytics.messages.message_id IS 'Message id (UUIDv7, unique within its dialog).';
COMMENT ON COLUMN analytics.messages.dialog_id IS 'The dialog the message belongs to.';
COMMENT ON COLUMN analytics.messages.project_id IS 'The project (customer) of the dialog.';
COMMENT ON COLUMN analytics.messages.object_type IS 'Type of the host business object the dialog is bound to (order, tender, ...).';
COMMENT ON COLUMN analytics.messages.object_id IS 'Id of the host business object, as the host knows it.';
COMMENT ON COLUMN analytics.messages.sender_id IS 'User id of the author (the token''s sub); $system for system messages.';
COMMENT ON COLUMN analytics.messages.message_type IS 'text (written by a user) or system (joins, leaves, creation).';
COMMENT ON COLUMN analytics.messages.sent_at IS 'When it was written: the sender''s clock, never later than the server''s receipt.';
COMMENT ON COLUMN analytics.messages.received_at IS 'When the server first accepted it (null for rows projected before arrival times were kept).';
COMMENT ON COLUMN analytics.messages.seq IS 'Order of arrival at the server within the dialog.';
COMMENT ON COLUMN analytics.messages.edited IS 'True once the author edited the text.';
COMMENT ON COLUMN analytics.messages.edited_at IS 'Time of the last edit, or null.';
COMMENT ON COLUMN analytics.messages.deleted IS 'True when soft-deleted; the text is gone, the row stays.';
COMMENT ON COLUMN analytics.messages.length IS 'Characters of plain text (0 once deleted).';
COMMENT ON COLUMN analytics.messages.attachments_count IS 'Number of attachments.';
COMMENT ON COLUMN analytics.messages.has_attachments IS 'True when the message carries at least one attachment.';
COMMENT ON COLUMN analytics.messages.is_reply IS 'True when the message replies to another one.';
COMMENT ON COLUMN analytics.messages.reply_to_id IS 'The message replied to, or null.';
COMMENT ON COLUMN analytics.messages.system_event IS 'For system messages: chat_created, participant_joined, participant_left, ...';

CREATE VIEW analytics.dialogs AS
SELECT
  d.id AS dialog_id,
  d.project_id,
  d.object_type,
  d.object_id,
  d.title,
  d.created_by,
  d.created_at,
  coalesce(s.messages_count, 0) AS messages_count,
  coalesce(s.deleted_messages_count, 0) AS deleted_messages_count,
  coalesce(s.system_messages_count, 0) AS system_messages_count,
  s.first_message_at,
  s.last_message_at,
  coalesce(s.senders_count, 0) AS senders_count,
  coalesce(p.participants_count, 0) AS participants_count
FROM dialogs d
LEFT JOIN LATERAL (
  SELECT
    count(*) FILTER (WHERE m.kind = 'text') AS messages_count,
    count(*) FILTER (WHERE m.kind = 'text' AND m.deleted) AS deleted_messages_count,
    count(*) FILTER (WHERE m.kind = 'system') AS system_messages_count,
    min(m.created_at) FILTER (WHERE m.kind = 'text') AS first_message_at,
    max(m.created_at) FILTER (WHERE m.kind = 'text') AS last_message_at,
    count(DISTINCT m.author_id) FILTER (WHERE m.kind = 'text') AS senders_count
  FROM messages m
  WHERE m.dialog_id = d.id
) s ON true
LEFT JOIN LATERAL (SELECT count(*) AS participants_count FROM participants pa WHERE pa.dialog_id = d.id) p ON true;

COMMENT ON VIEW analytics.dialogs IS 'One row per dialog with its message counts and activity span. Counts are of user (text) messages unless named otherwise.';
COMMENT ON COLUMN analytics.dialogs.dialog_id IS 'Dialog id.';
COMMENT ON COLUMN analytics.dialogs.project_id IS 'The project (customer) of the dialog.';
COMMENT ON COLUMN analytics.dialogs.object_type IS 'Type of the host business object the dialog is bound to.';
COMMENT ON COLUMN analytics.dialogs.object_id IS 'Id of the host business object.';
COMMENT ON COLUMN analytics.dialogs.title IS 'Title given by the host, or null.';
COMMENT ON COLUMN analytics.dialogs.created_by IS 'Who the host says created it, or null.';
COMMENT ON COLUMN analytics.dialogs.created_at IS 'When the dialog was created.';
COMMENT ON COLUMN analytics.dialogs.messages_count IS 'User messages ever sent, including those since deleted.';
COMMENT ON COLUMN analytics.dialogs.deleted_messages_count IS 'Of those, how many are deleted.';
COMMENT ON COLUMN analytics.dialogs.system_messages_count IS 'System messages (creation, joins, leaves).';
COMMENT ON COLUMN analytics.dialogs.first_message_at IS 'sent_at of the first user message, or null.';
COMMENT ON COLUMN analytics.dialogs.last_message_at IS 'sent_at of the latest user message, or null.';
COMMENT ON COLUMN analytics.dialogs.senders_count IS 'Distinct users who sent a message.';
COMMENT ON COLUMN analytics.dialogs.participants_count IS 'Current direct participants (not potential ones matching by scope).';

CREATE VIEW analytics.daily_activity AS
SELECT
  (m.created_at AT TIME ZONE 'UTC')::date AS day,
  d.project_id,
  count(DISTINCT m.dialog_id) AS dialogs_active,
  count(*) AS messages,
  count(DISTINCT m.author_id) AS distinct_senders
FROM messages m
JOIN dialogs d ON d.id = m.dialog_id
WHERE m.kind = 'text'
GROUP BY 1, 2;

COMMENT ON VIEW analytics.daily_activity IS 'User (text) messages per UTC day and project; days without messages have no row.';
COMMENT ON COLUMN analytics.daily_activity.day IS 'Calendar day in UTC of sent_at.';
COMMENT ON COLUMN analytics.daily_activity.project_id IS 'The project (customer).';
COMMENT ON COLUMN analytics.daily_activity.dialogs_active IS 'Dialogs with at least one user message that day.';
COMMENT ON COLUMN analytics.daily_activity.messages IS 'User messages sent that day, including those since deleted.';
COMMENT ON COLUMN analytics.daily_activity.distinct_senders IS 'Distinct users who sent a message that day.';

-- Roles are cluster-wide: another database of the cluster (or a concurrent
-- migration) may have created it already. A migrator without CREATEROLE gets a
-- warning instead of a failed migration; the operator then runs the README's lines.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mtchat_analyst') THEN
    BEGIN
      CREATE ROLE mtchat_analyst NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
  GRANT USAGE ON SCHEMA analytics TO mtchat_analyst;
  GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO mtchat_analyst;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'mtchat_analyst was not set up (%): create it and grant it USAGE on schema analytics and SELECT on its views', SQLERRM;
END
$$;
