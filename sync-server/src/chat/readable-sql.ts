import type { User } from "../auth/verify-token.ts";

/** Collects query parameters; `add` returns the placeholder (`$n`) of the value. */
export const sqlParams = () => {
  const values: unknown[] = [];
  return {
    values,
    add: (value: unknown) => {
      values.push(value);
      return `$${values.length}`;
    },
  };
};

/**
 * The rule of `authz/src/scope-match.ts` in SQL, so the database can filter:
 * some access scope of dialog `alias` has the user's tenant and overlaps their
 * level-1 and level-2 scopes (an empty list on the dialog side matches anyone).
 * `p` holds the placeholders of the user's tenant and level-1 and level-2 scopes.
 */
export const scopeMatchSql = (alias: string, p: { tenant: string; level1: string; level2: string }) =>
  `EXISTS (SELECT 1 FROM access_scopes s WHERE s.dialog_id = ${alias}.id AND s.tenant_uid = ${p.tenant}
     AND (cardinality(s.scope_level1) = 0 OR s.scope_level1 && ${p.level1}::text[])
     AND (cardinality(s.scope_level2) = 0 OR s.scope_level2 && ${p.level2}::text[]))`;

/** Adds the user's scope claims to `params` and returns their placeholders for {@link scopeMatchSql}. */
export const scopePlaceholders = (add: (value: unknown) => string, user: User) => ({
  tenant: add(user.tenant_uid),
  level1: add(user.scope_level1),
  level2: add(user.scope_level2),
});

/** Whether the user (placeholder `user`) participates in dialog `alias`. */
export const participatesSql = (alias: string, user: string) =>
  `EXISTS (SELECT 1 FROM participants p WHERE p.dialog_id = ${alias}.id AND p.user_id = ${user})`;

/**
 * Counts messages of dialog `alias` the user has not read: by someone else,
 * not deleted, not system, and arrived after the message their read cursor
 * names (all of them when there is no cursor). Arrival order, not the
 * sender's clock, so a message merged late from an offline client counts once
 * and is not hidden behind an earlier cursor.
 */
export const unreadCountSql = (alias: string, user: string) =>
  `(SELECT count(*)::int FROM messages u
    WHERE u.dialog_id = ${alias}.id AND u.author_id <> ${user} AND u.kind = 'text' AND NOT u.deleted
      AND u.seq > COALESCE((SELECT r.seq FROM read_cursors c JOIN messages r ON r.dialog_id = c.dialog_id AND r.id = c.message_id
                            WHERE c.dialog_id = ${alias}.id AND c.user_id = ${user}), 0))`;

/** Joins `newest`: the newest message of dialog `d` by arrival (its id and arrival time). */
export const newestMessageJoin =
  "LEFT JOIN LATERAL (SELECT id, received_at FROM messages WHERE dialog_id = d.id ORDER BY seq DESC NULLS LAST LIMIT 1) newest ON true";

/**
 * The user's own state of dialog `d` as the API shows it: `is_pinned`,
 * `notifications_enabled` and `is_archived`. `is_archived` is the protocol's
 * `isArchived` in SQL: the user's mark counts while it names the newest
 * message; otherwise the server's auto-archive mark does, on the same
 * condition. Needs {@link userStateJoins}.
 */
export const userStateColumns = `COALESCE(st.pinned, false) AS is_pinned,
  COALESCE(st.notifications_enabled, true) AS notifications_enabled,
  CASE WHEN st.archived IS NOT NULL AND st.archived_through IS NOT DISTINCT FROM newest.id THEN st.archived
       ELSE d.auto_archived_through IS NOT NULL AND d.auto_archived_through = newest.id END AS is_archived`;

/** Joins the user's `user_dialog_state` row `st` (placeholders `user`, `project`) and {@link newestMessageJoin}. */
export const userStateJoins = (user: string, project: string) =>
  `LEFT JOIN user_dialog_state st ON st.project_id = ${project} AND st.user_id = ${user} AND st.dialog_id = d.id
  ${newestMessageJoin}`;
