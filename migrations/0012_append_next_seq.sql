-- Several sync nodes append to one document's log at once. The database now
-- gives each row its seq, one past the head, under the head row's lock, and
-- returns it: concurrent writers on different nodes are never refused for
-- being concurrent (before, each node proposed the seq after the head it knew,
-- and the loser of a race failed on the log's primary key).
--
-- Appending does not need the node's copy to hold every row before it: the
-- inspector refuses (as "missing") any update that depends on changes its copy
-- lacks, a client's own structs must continue exactly where the copy has them,
-- and every other rule rests on facts that never change once written (authors,
-- kinds, ids; the ids' uniqueness is checked here, MT410). The node catches up
-- on the rows it lacks afterwards.
--
-- The notification carries the seq, `<doc name> <seq>`, so a node can tell
-- whether its copy of the document already has the row.
DROP FUNCTION mtchat_append(text, bigint, uuid, bytea, text, bigint[], uuid[]);

CREATE FUNCTION mtchat_append(
  p_doc text, p_dialog uuid, p_update bytea, p_user text, p_clients bigint[], p_messages uuid[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
  v_taken bigint;
  v_last bigint;
  v_rows integer;
  v_count integer := cardinality(p_messages);
BEGIN
  IF cardinality(p_clients) > 0 THEN
    INSERT INTO client_bindings (dialog_id, client_id, user_id)
      SELECT p_dialog, c, p_user FROM unnest(p_clients) AS c ON CONFLICT (dialog_id, client_id) DO NOTHING;
    SELECT client_id INTO v_taken FROM client_bindings
      WHERE dialog_id = p_dialog AND client_id = ANY (p_clients) AND user_id <> p_user LIMIT 1;
    IF v_taken IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'MT409', MESSAGE = format('client id %s belongs to another user; start a new Y.Doc', v_taken);
    END IF;
  END IF;
  IF v_count > 0 THEN
    UPDATE dialog_registry SET last_seq = last_seq + v_count WHERE id = p_dialog RETURNING last_seq INTO v_last;
    INSERT INTO message_arrivals (dialog_id, message_id, seq, doc_name)
      SELECT p_dialog, m.id, v_last - v_count + m.ord, p_doc FROM unnest(p_messages) WITH ORDINALITY AS m (id, ord)
      ON CONFLICT (dialog_id, message_id) DO NOTHING;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows <> v_count THEN
      RAISE EXCEPTION USING ERRCODE = 'MT410', MESSAGE = 'a message with this id already exists in the dialog';
    END IF;
  END IF;
  INSERT INTO doc_heads (doc_name, dialog_id, head_seq) VALUES (p_doc, p_dialog, 1)
    ON CONFLICT (doc_name) DO UPDATE SET head_seq = doc_heads.head_seq + 1
    RETURNING head_seq INTO v_seq;
  INSERT INTO doc_log (doc_name, seq, dialog_id, update, user_id) VALUES (p_doc, v_seq, p_dialog, p_update, p_user);
  PERFORM pg_notify('mtchat_log', p_doc || ' ' || v_seq);
  RETURN v_seq;
END
$$;

-- Group commit: the appends a node gathered while its previous batch was in
-- flight, in one round trip and one commit. Each entry is appended as by
-- mtchat_append, in order; an entry refused with MT409 or MT410 is reported
-- for that entry alone (its changes undone) and the others go on. Entries of
-- one document take consecutive seqs in the order given.
CREATE FUNCTION mtchat_append_many(
  p_docs text[], p_dialogs uuid[], p_updates bytea[], p_users text[], p_clients jsonb, p_messages jsonb
) RETURNS TABLE (ord integer, seq bigint, code text, message text) LANGUAGE plpgsql AS $$
DECLARE
  v_clients bigint[];
  v_messages uuid[];
BEGIN
  FOR i IN 1 .. cardinality(p_docs) LOOP
    ord := i;
    v_clients := ARRAY(SELECT jsonb_array_elements_text(p_clients -> (i - 1))::bigint);
    v_messages := ARRAY(SELECT jsonb_array_elements_text(p_messages -> (i - 1))::uuid);
    BEGIN
      seq := mtchat_append(p_docs[i], p_dialogs[i], p_updates[i], p_users[i], v_clients, v_messages);
      code := NULL;
      message := NULL;
    EXCEPTION WHEN SQLSTATE 'MT409' OR SQLSTATE 'MT410' THEN
      seq := NULL;
      code := SQLSTATE;
      message := SQLERRM;
    END;
    RETURN NEXT;
  END LOOP;
END
$$;
