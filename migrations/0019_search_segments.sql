-- Chinese is written without spaces, so the search vector found only whole runs
-- of it. The projector now writes `search_text` for a message with Han
-- characters: each run cut into its words by jieba (and the words inside them),
-- the rest as it is. The vector is built from it when present. Rows projected
-- before get theirs from the projection worker at its start (backfillSearchText);
-- until then their text is searched as it stands.
ALTER TABLE messages ADD COLUMN search_text text;
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search;
ALTER TABLE messages ADD COLUMN search tsvector
  GENERATED ALWAYS AS (to_tsvector('russian', left(COALESCE(search_text, body_text), 100000))) STORED;
CREATE INDEX messages_search ON messages USING gin (search);
