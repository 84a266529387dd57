// Time to open a dialog the way a client does (meta document, then the head
// segment it names), for a 20,000-message dialog against a 500-message one.
// "Cold" means the server has the documents unloaded and reads them from
// PostgreSQL; "warm" means they are already in memory.
import { createTestDatabase } from "@mtchat/migrations";
import { metaDocName, metaKeys, metaOf, segmentDocName } from "@mtchat/protocol";
import { openDoc, openSocket } from "../test/clients.ts";
import { adminToken, adminUrl, createDialog, jwtSecret, seedSegments, startServer, type TestServer, tokenFor } from "../test/harness.ts";

const unloadAll = async (t: TestServer) => {
  for (const document of [...t.server.hocuspocus.documents.values()]) await t.server.hocuspocus.unloadDocument(document);
};

const timeOpen = async (t: TestServer, dialogId: string, token: string) => {
  const started = performance.now();
  const socket = openSocket(t.wsUrl);
  const meta = await openDoc(socket, metaDocName(dialogId), token);
  const head = Number(metaOf(meta.document).get(metaKeys.headSegment));
  const segment = await openDoc(socket, segmentDocName(dialogId, head), token);
  const elapsed = performance.now() - started;
  meta.destroy();
  segment.destroy();
  socket.destroy();
  return elapsed;
};

export const openBench = async (runs = 15): Promise<string[]> => {
  const db = await createTestDatabase(adminUrl, "bench_open");
  const t = await startServer({
    DATABASE_URL: db.url,
    PORT: "0",
    JWT_SECRET: jwtSecret,
    ADMIN_API_TOKEN: adminToken,
    LOG_LEVEL: "warn",
    SEGMENT_SIZE: "500",
  });
  try {
    const big = await createDialog(t, ["alice"]);
    await seedSegments(t, big.id, 40, 500);
    const small = await createDialog(t, ["alice"]);
    await seedSegments(t, small.id, 1, 500);
    const token = await tokenFor("alice");
    const rows: string[] = [];
    for (const [label, id] of [
      ["20,000 messages (40 segments)", big.id],
      ["500 messages (1 segment)", small.id],
    ] as const) {
      for (const mode of ["cold", "warm"] as const) {
        const times: number[] = [];
        // Warm: another client keeps the documents loaded, as in a busy dialog.
        const keeper = mode === "warm" ? openSocket(t.wsUrl) : null;
        if (keeper) {
          const meta = await openDoc(keeper, metaDocName(id), token);
          await openDoc(keeper, segmentDocName(id, Number(metaOf(meta.document).get(metaKeys.headSegment))), token);
        }
        for (let run = 0; run < runs; run += 1) {
          if (mode === "cold") await unloadAll(t);
          times.push(await timeOpen(t, id, token));
        }
        keeper?.destroy();
        times.sort((a, b) => a - b);
        const at = (q: number) => (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN).toFixed(1);
        rows.push(`| open ${label}, ${mode} | p50 ${at(0.5)} ms / max ${at(1)} ms |`);
      }
    }
    return rows;
  } finally {
    await t.stop();
    await db.drop();
  }
};
