import type { AccessScope } from "@mtchat/protocol";

/** A user's scopes, always taken from the verified token's claims. */
export type UserScope = { tenant_uid: string; scope_level1: readonly string[]; scope_level2: readonly string[] };

const overlaps = (dialogSide: readonly string[], userSide: readonly string[]): boolean =>
  dialogSide.length === 0 || dialogSide.some((value) => userSide.includes(value));

/**
 * A user matches a dialog when any of its access scopes has the user's tenant
 * and overlaps the user's level-1 and level-2 scopes; an empty list on the
 * dialog side matches anyone in the tenant.
 */
export const matchesScopes = (scopes: readonly AccessScope[], user: UserScope): boolean =>
  scopes.some(
    (scope) =>
      scope.tenant_uid === user.tenant_uid &&
      overlaps(scope.scope_level1, user.scope_level1) &&
      overlaps(scope.scope_level2, user.scope_level2),
  );
