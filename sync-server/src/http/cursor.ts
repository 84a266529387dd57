import { isUuid } from "@mtchat/protocol";
import { z } from "zod";
import { isStorableInstant } from "../db/storable.ts";
import { ApiError } from "./errors.ts";

/**
 * Paging cursors: JSON, base64url-encoded, opaque to clients. A cursor comes
 * back from the client, so decoding is input validation like any other: every
 * field is checked against what PostgreSQL will accept before it reaches a
 * query, and anything else is a 400, never a query error.
 */
export type CursorCodec<T> = { encode(value: T): string; decode(raw: string): T };

const cursorRefusal = () => new ApiError("bad_request", "the cursor is not one this API gave out; start again without it");

/** A uuid as this API writes them (PostgreSQL's lowercase form). */
export const cursorUuid = z.string().refine(isUuid);

/** An instant as this API writes them (`Date#toISOString`, or with microseconds), one PostgreSQL reads. */
export const cursorInstant = z.string().refine(isStorableInstant);

/** An offset into a result: a safe integer, so it is exact and fits PostgreSQL's bigint. */
export const cursorOffset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A codec for cursors of `schema`, which should be a strict object of the fields above. */
export const cursorCodec = <T>(schema: z.ZodType<T>): CursorCodec<T> => ({
  encode: (value) => Buffer.from(JSON.stringify(value)).toString("base64url"),
  decode: (raw) => {
    if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw cursorRefusal();
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(raw, "base64url").toString());
    } catch {
      throw cursorRefusal();
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw cursorRefusal();
    return parsed.data;
  },
});
