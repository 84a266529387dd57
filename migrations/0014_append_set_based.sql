-- Group commit, set-based. mtchat_append_many (0012) appended a batch entry
-- by entry: a subtransaction and about eight statements per update, which
-- made it PostgreSQL's largest cost under load. It now writes the whole
-- batch in a few statements, one per table, and only when an entry is
-- refused (MT409: a client id bound to another user; MT410: a message id the
-- dialog already has) does it undo that attempt and append entry by entry,
-- as before, so the refusal is reported for that entry alone.
--
-- The result is the same as appending the entries in order: entries of one
-- document take consecutive seqs in the order given, and new messages take
-- the dialog's arrival seqs in that order. The registry rows are locked in id
-- order first, and the heads are written in name order, so two nodes'
-- batches over the same dialogs wait for each other instead of deadlocking.
--
-- One notification per document and batch names the highest seq: a listener
-- needs to know how far the log reaches, not each row.
ALTER FUNCTION mtchat_append_many(text[], uuid[], bytea[], text[], jsonb, jsonb) RENAME TO mtchat_append_each;

CREATE FUNCTION mtchat_append_many(
  p_docs text[], p_dialogs uuid[], p_updates bytea[], p_users text[], p_clients jsonb, p_messages jsonb
) RETURNS TABLE (ord integer, seq bigint, code text, message text) LANGUAGE plpgsql AS $$
DECLARE
  v_expected integer;
  v_rows integer;
  v_seqs bigint[];
BEGIN
  BEGIN
    INSERT INTO client_bindings (dialog_id, client_id, user_id)
      SELECT p_dialogs[e.i], c.id::bigint, p_users[e.i]
      FROM generate_subscripts(p_docs, 1) AS e (i)
      CROSS JOIN LATERAL jsonb_array_elements_text(p_clients -> (e.i - 1)) AS c (id)
      ORDER BY 1, 2
      ON CONFLICT (dialog_id, client_id) DO NOTHING;
    PERFORM 1
      FROM generate_subscripts(p_docs, 1) AS e (i)
      CROSS JOIN LATERAL jsonb_array_elements_text(p_clients -> (e.i - 1)) AS c (id)
      JOIN client_bindings b ON b.dialog_id = p_dialogs[e.i] AND b.client_id = c.id::bigint
      WHERE b.user_id <> p_users[e.i];
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'MT409';
    END IF;

    SELECT count(*) INTO v_expected
      FROM generate_subscripts(p_docs, 1) AS e (i)
      CROSS JOIN LATERAL jsonb_array_elements_text(p_messages -> (e.i - 1));
    IF v_expected > 0 THEN
      -- NO KEY UPDATE, like the UPDATE below: the projection's KEY SHARE locks on these rows do not wait for it.
      PERFORM 1 FROM dialog_registry
        WHERE id IN (
          SELECT p_dialogs[e.i] FROM generate_subscripts(p_docs, 1) AS e (i) WHERE jsonb_array_length(p_messages -> (e.i - 1)) > 0
        )
        ORDER BY id FOR NO KEY UPDATE;
      WITH m AS (
        SELECT e.i, p_dialogs[e.i] AS dialog_id, x.id::uuid AS id, x.o
        FROM generate_subscripts(p_docs, 1) AS e (i)
        CROSS JOIN LATERAL jsonb_array_elements_text(p_messages -> (e.i - 1)) WITH ORDINALITY AS x (id, o)
      ), counts AS (
        SELECT m.dialog_id, count(*) AS n FROM m GROUP BY m.dialog_id
      ), bumped AS (
        UPDATE dialog_registry r SET last_seq = r.last_seq + counts.n FROM counts WHERE r.id = counts.dialog_id
        RETURNING r.id, r.last_seq, counts.n
      )
      INSERT INTO message_arrivals (dialog_id, message_id, seq, doc_name)
        SELECT m.dialog_id, m.id, b.last_seq - b.n + row_number() OVER (PARTITION BY m.dialog_id ORDER BY m.i, m.o), p_docs[m.i]
        FROM m JOIN bumped b ON b.id = m.dialog_id
        ON CONFLICT (dialog_id, message_id) DO NOTHING;
      GET DIAGNOSTICS v_rows = ROW_COUNT;
      IF v_rows <> v_expected THEN
        RAISE EXCEPTION USING ERRCODE = 'MT410';
      END IF;
    END IF;

    WITH counts AS (
      SELECT p_docs[e.i] AS doc_name, (array_agg(p_dialogs[e.i]))[1] AS dialog_id, count(*) AS n
      FROM generate_subscripts(p_docs, 1) AS e (i) GROUP BY 1
    ), heads AS (
      INSERT INTO doc_heads AS h (doc_name, dialog_id, head_seq)
        SELECT counts.doc_name, counts.dialog_id, counts.n FROM counts ORDER BY counts.doc_name
        ON CONFLICT (doc_name) DO UPDATE SET head_seq = h.head_seq + excluded.head_seq
        RETURNING h.doc_name, h.head_seq
    ), placed AS (
      SELECT e.i, heads.head_seq - counts.n + row_number() OVER (PARTITION BY p_docs[e.i] ORDER BY e.i) AS seq
      FROM generate_subscripts(p_docs, 1) AS e (i)
      JOIN heads ON heads.doc_name = p_docs[e.i]
      JOIN counts ON counts.doc_name = p_docs[e.i]
    ), logged AS (
      INSERT INTO doc_log (doc_name, seq, dialog_id, update, user_id)
        SELECT p_docs[placed.i], placed.seq, p_dialogs[placed.i], p_updates[placed.i], p_users[placed.i] FROM placed
    )
    SELECT array_agg(placed.seq ORDER BY placed.i) INTO v_seqs FROM placed;
    PERFORM pg_notify('mtchat_log', d.doc_name || ' ' || d.seq)
      FROM (SELECT p_docs[e.i] AS doc_name, max(v_seqs[e.i]) AS seq FROM generate_subscripts(p_docs, 1) AS e (i) GROUP BY 1) AS d;

    RETURN QUERY SELECT e.i, v_seqs[e.i], NULL::text, NULL::text FROM generate_subscripts(p_docs, 1) AS e (i) ORDER BY e.i;
  EXCEPTION WHEN SQLSTATE 'MT409' OR SQLSTATE 'MT410' THEN
    -- Everything above is undone; entry by entry, the refused ones are reported and the others appended.
    RETURN QUERY SELECT * FROM mtchat_append_each(p_docs, p_dialogs, p_updates, p_users, p_clients, p_messages);
  END;
END
$$;
