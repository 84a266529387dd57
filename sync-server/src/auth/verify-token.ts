import { createPublicKey, type KeyObject } from "node:crypto";
import { type Decision, deny, type UserScope } from "@mtchat/authz";
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTVerifyGetKey, jwtVerify } from "jose";
import { z } from "zod";

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

const asymmetricAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

const claimsSchema = z.object({
  sub: z
    .string()
    .min(1)
    .max(256)
    .refine((sub) => !sub.startsWith("$"), "sub must not start with $ (reserved for the server)"),
  exp: z.number(),
  tenant_uid: z.string().max(256).default(""),
  scope_level1: z.array(z.string().max(256)).max(256).default([]),
  scope_level2: z.array(z.string().max(256)).max(256).default([]),
  name: z.string().max(256).optional(),
  company: z.string().max(256).optional(),
  prj: z.string().min(1).max(128).default("default"),
});

const reasonOf = (error: unknown): string => {
  if (error instanceof errors.JWTExpired) return "the token has expired; fetch a new one";
  if (error instanceof errors.JWTClaimValidationFailed)
    return `the token's "${error.claim}" claim is ${error.reason === "missing" ? "missing" : "invalid"}`;
  if (error instanceof errors.JOSEAlgNotAllowed) return "the token's signing algorithm is not accepted";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  return "the token could not be verified";
};

/**
 * Builds the verifier for user tokens. HS256 tokens are checked with the
 * shared secret, asymmetric ones with the public key or JWKS; the header's
 * `alg` only selects among keys that are configured, and `none` never passes.
 */
export const createTokenVerifier = (keys: TokenKeys): VerifyToken => {
  const secret = keys.jwtSecret ? new TextEncoder().encode(keys.jwtSecret) : null;
  const publicKey: KeyObject | null = keys.jwtPublicKey ? createPublicKey(keys.jwtPublicKey) : null;
  const jwks: JWTVerifyGetKey | null = keys.jwtJwksUrl ? createRemoteJWKSet(new URL(keys.jwtJwksUrl)) : null;
  const common = {
    requiredClaims: ["exp", "sub"],
    ...(keys.jwtIssuer ? { issuer: keys.jwtIssuer } : {}),
    ...(keys.jwtAudience ? { audience: keys.jwtAudience } : {}),
  };

  return async (token) => {
    if (typeof token !== "string" || token.length === 0) return deny("unauthorized", "a user token is required");
    if (token.length > 16_384) return deny("unauthorized", "the token is too long");
    try {
      const { alg } = decodeProtectedHeader(token);
      let payload: unknown;
      if (alg === "HS256" && secret) {
        ({ payload } = await jwtVerify(token, secret, { ...common, algorithms: ["HS256"] }));
      } else if (alg && asymmetricAlgorithms.includes(alg) && publicKey) {
        ({ payload } = await jwtVerify(token, publicKey, { ...common, algorithms: asymmetricAlgorithms }));
      } else if (alg && asymmetricAlgorithms.includes(alg) && jwks) {
        ({ payload } = await jwtVerify(token, jwks, { ...common, algorithms: asymmetricAlgorithms }));
      } else {
        return deny("unauthorized", `tokens signed with "${String(alg)}" are not accepted here`);
      }
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success)
        return deny("unauthorized", `invalid token claims: ${claims.error.issues.map((issue) => issue.message).join("; ")}`);
      const { sub, exp, tenant_uid, scope_level1, scope_level2, name, company, prj } = claims.data;
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
