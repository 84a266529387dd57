import { createPublicKey, type KeyObject } from "node:crypto";
import { type Decision, deny, type UserScope } from "@mtchat/authz";
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from "jose";
import { z } from "zod";
import { textProblem } from "../db/storable.ts";

/** A verified user. Everything here comes from the token's signed claims. */
export type User = UserScope & {
  userId: string;
  projectId: string;
  name: string | null;
  company: string | null;
  /** Seconds since the epoch; the token is refused after it. */
  expiresAt: number;
};

export type TokenKeys = {
  jwtSecret?: string | undefined;
  jwtPublicKey?: string | undefined;
  jwtJwksUrl?: string | undefined;
  jwtIssuer?: string | undefined;
  jwtAudience?: string | undefined;
};

export type VerifyToken = (token: string) => Promise<Decision<{ user: User }>>;

/** The project of tokens without a `prj` claim, and of ADMIN_API_TOKEN. */
export const defaultProjectId = "default";

/** Keys that verify one project's user tokens; each list is tried in turn (key rotation). */
export type VerificationKeys = { secrets: Uint8Array[]; publicKeys: KeyObject[]; jwks: JWTVerifyGetKey[] };

/** A project's keys kept in the database. Every project but the default one verifies with these only. */
export type ProjectKeySource = (projectId: string) => Promise<VerificationKeys>;

export const noKeys: VerificationKeys = { secrets: [], publicKeys: [], jwks: [] };

const asymmetricAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/** An identity claim: it names the user, project or scopes in queries, so it must be text PostgreSQL can store. */
const identity = (claim: string, max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => textProblem(value) === null, `${claim} must be text without NUL characters or unpaired surrogates`);

/**
 * A display claim (name, company): shown to others, never used to decide
 * anything, so its control characters and unpaired surrogates are dropped
 * rather than the token refused. A name with nothing left is no name.
 */
const display = z
  .string()
  .max(256)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this drops
  .transform((value) => value.replace(/[\u0000-\u001f\u007f]|\p{Cs}/gu, "").trim() || undefined);

const claimsSchema = z.object({
  sub: identity("sub", 256)
    .refine((sub) => sub.length > 0, "sub must not be empty")
    .refine((sub) => !sub.startsWith("$"), "sub must not start with $ (reserved for the server)"),
  exp: z.number(),
  tenant_uid: identity("tenant_uid", 256).default(""),
  scope_level1: z.array(identity("scope_level1", 256)).max(256).default([]),
  scope_level2: z.array(identity("scope_level2", 256)).max(256).default([]),
  name: display.optional(),
  company: display.optional(),
  prj: identity("prj", 128)
    .refine((prj) => prj.length > 0, "prj must not be empty")
    .default(defaultProjectId),
});

const reasonOf = (error: unknown): string => {
  if (error instanceof errors.JWTExpired) return "the token has expired; fetch a new one";
  if (error instanceof errors.JWTClaimValidationFailed)
    return `the token's "${error.claim}" claim is ${error.reason === "missing" ? "missing" : "invalid"}`;
  if (error instanceof errors.JOSEAlgNotAllowed) return "the token's signing algorithm is not accepted";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  return "the token could not be verified";
};

/** The project a token claims, read before its signature is checked only to choose the keys that must check it. */
const claimedProject = (token: string): string | null => {
  const { prj } = decodeJwt(token);
  if (prj === undefined) return defaultProjectId;
  return typeof prj === "string" && prj.length > 0 && prj.length <= 128 && textProblem(prj) === null ? prj : null;
};

/** Claim failures come after a good signature: that key was the right one, and the token is refused. */
const claimFailure = (error: unknown) => error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired;

/**
 * Verifies with the first key that fits. Any other failure (wrong signature, a key of another type, no
 * matching `kid`) means "not this key" and the next candidate is tried.
 */
const verifyWithAny = async (
  token: string,
  keys: (Uint8Array | KeyObject | JWTVerifyGetKey)[],
  options: JWTVerifyOptions,
): Promise<JWTPayload> => {
  let failure: unknown = new errors.JWSSignatureVerificationFailed();
  for (const key of keys) {
    try {
      const { payload } = typeof key === "function" ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      return payload;
    } catch (error) {
      if (claimFailure(error)) throw error;
      // A key of the wrong type says less than a signature that did not verify: report the latter.
      if (!(failure instanceof errors.JWSSignatureVerificationFailed) || error instanceof errors.JWSSignatureVerificationFailed)
        failure = error;
    }
  }
  throw failure;
};

/**
 * Builds the verifier for user tokens. HS256 tokens are checked with the
 * shared secret, asymmetric ones with the public key or JWKS; the header's
 * `alg` only selects among keys that are configured, and `none` never passes.
 *
 * The `prj` claim selects the project. The default project verifies with the
 * configured keys (plus any it keeps in the database); every other project
 * only with its own keys from `projectKeys`, so a token signed with the
 * default secret cannot claim another project.
 */
export const createTokenVerifier = (keys: TokenKeys, projectKeys?: ProjectKeySource): VerifyToken => {
  const configured: VerificationKeys = {
    secrets: keys.jwtSecret ? [new TextEncoder().encode(keys.jwtSecret)] : [],
    publicKeys: keys.jwtPublicKey ? [createPublicKey(keys.jwtPublicKey)] : [],
    jwks: keys.jwtJwksUrl ? [createRemoteJWKSet(new URL(keys.jwtJwksUrl))] : [],
  };
  const required = { requiredClaims: ["exp", "sub"] };
  // JWT_ISSUER and JWT_AUDIENCE belong to the configured (default project's) keys.
  const defaultClaims = {
    ...required,
    ...(keys.jwtIssuer ? { issuer: keys.jwtIssuer } : {}),
    ...(keys.jwtAudience ? { audience: keys.jwtAudience } : {}),
  };

  const keysOf = async (projectId: string): Promise<VerificationKeys> => {
    const stored = projectKeys ? await projectKeys(projectId) : noKeys;
    if (projectId !== defaultProjectId) return stored;
    return {
      secrets: [...configured.secrets, ...stored.secrets],
      publicKeys: [...configured.publicKeys, ...stored.publicKeys],
      jwks: [...configured.jwks, ...stored.jwks],
    };
  };

  return async (token) => {
    if (typeof token !== "string" || token.length === 0) return deny("unauthorized", "a user token is required");
    if (token.length > 16_384) return deny("unauthorized", "the token is too long");
    try {
      const { alg } = decodeProtectedHeader(token);
      const projectId = claimedProject(token);
      if (projectId === null) return deny("unauthorized", 'the token\'s "prj" claim must be a project id');
      let candidates: VerificationKeys;
      try {
        candidates = await keysOf(projectId);
      } catch {
        return deny("unavailable", "the project's token keys could not be loaded; retry shortly");
      }
      const common = projectId === defaultProjectId ? defaultClaims : required;
      let payload: JWTPayload;
      if (alg === "HS256" && candidates.secrets.length > 0) {
        payload = await verifyWithAny(token, candidates.secrets, { ...common, algorithms: ["HS256"] });
      } else if (alg && asymmetricAlgorithms.includes(alg) && candidates.publicKeys.length + candidates.jwks.length > 0) {
        payload = await verifyWithAny(token, [...candidates.publicKeys, ...candidates.jwks], {
          ...common,
          algorithms: asymmetricAlgorithms,
        });
      } else {
        const where = projectId === defaultProjectId ? "here" : `for project "${projectId}"`;
        return deny("unauthorized", `tokens signed with "${String(alg)}" are not accepted ${where}`);
      }
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success)
        return deny("unauthorized", `invalid token claims: ${claims.error.issues.map((issue) => issue.message).join("; ")}`);
      const { sub, exp, tenant_uid, scope_level1, scope_level2, name, company, prj } = claims.data;
      // The signed claim is the one that was read to pick the keys; checked anyway, since isolation rests on it.
      if (prj !== projectId) return deny("unauthorized", "the token's project does not match the keys that verified it");
      return {
        ok: true,
        user: {
          userId: sub,
          projectId: prj,
          tenant_uid,
          scope_level1,
          scope_level2,
          name: name ?? null,
          company: company ?? null,
          expiresAt: exp,
        },
      };
    } catch (error) {
      return deny("unauthorized", reasonOf(error));
    }
  };
};
