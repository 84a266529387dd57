-- An endpoint's wire format: 'standard' (our envelope, the timestamp signed
-- with the body) or 'mtchat' (MTChat's `{id, type, timestamp, payload}` with
-- snake_case types and `sha256=HMAC(secret, body)`), so a receiver written for
-- MTChat works unchanged. WEBHOOK_FORMAT sets it for WEBHOOK_URL.
ALTER TABLE webhook_endpoints ADD COLUMN format text NOT NULL DEFAULT 'standard' CHECK (format IN ('standard', 'mtchat'));
