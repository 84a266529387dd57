-- The sync server's append in one round trip: client-id bindings, arrival order,
-- the log row, the document head and the notification, atomically. A refusal
-- raises one of these SQLSTATEs and leaves nothing behind:
--   MT409 a client id belongs to another user
--   MT410 a message id already exists in the dialog
--   MT411 the document head moved (another writer)
CREATE FUNCTION mtchat_append(
  p_doc text, p_seq bigint, p_dialog uuid, p_update bytea, p_user text, p_clients bigint[], p_messages uuid[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
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
  INSERT INTO doc_log (doc_name, seq, dialog_id, update, user_id) VALUES (p_doc, p_seq, p_dialog, p_update, p_user);
  INSERT INTO doc_heads (doc_name, dialog_id, head_seq) VALUES (p_doc, p_dialog, p_seq)
    ON CONFLICT (doc_name) DO UPDATE SET head_seq = EXCLUDED.head_seq WHERE doc_heads.head_seq = EXCLUDED.head_seq - 1;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  IF v_rows <> 1 THEN
    RAISE EXCEPTION USING ERRCODE = 'MT411', MESSAGE = format('%s was written elsewhere; reload it', p_doc);
  END IF;
  PERFORM pg_notify('mtchat_log', p_doc);
END
$$;
