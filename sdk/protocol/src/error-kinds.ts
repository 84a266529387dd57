/**
 * The closed set of error kinds. One string per kind is shared by the REST
 * envelope (`{"error":{"code","message"}}`), WebSocket close reasons and logs,
 * so a client can branch on it without parsing prose.
 */
export const errorKinds = {
  bad_request: { http: 400, ws: 4400 },
  unauthorized: { http: 401, ws: 4401 },
  forbidden: { http: 403, ws: 4403 },
  not_found: { http: 404, ws: 4404 },
  conflict: { http: 409, ws: 4409 },
  payload_too_large: { http: 413, ws: 4413 },
  unsupported_media_type: { http: 415, ws: 4415 },
  invalid_update: { http: 422, ws: 4422 },
  rate_limited: { http: 429, ws: 4429 },
  internal: { http: 500, ws: 4500 },
  unavailable: { http: 503, ws: 4503 },
} as const;

export type ErrorKind = keyof typeof errorKinds;

export const isErrorKind = (value: string): value is ErrorKind => Object.hasOwn(errorKinds, value);
