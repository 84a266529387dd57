-- Full-text search over messages. The 'russian' configuration stems Cyrillic
-- words with the Russian stemmer and Latin words with the English one, so one
-- vector serves both ("заказы" finds "заказ", "orders" finds "order").
-- Chinese has no spaces to split on: it is matched by substring, which the
-- trigram index speeds up (a query of two characters still matches, by scan).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('russian', body_text)) STORED;
CREATE INDEX messages_search ON messages USING gin (search);
CREATE INDEX messages_text_trgm ON messages USING gin (body_text gin_trgm_ops);
