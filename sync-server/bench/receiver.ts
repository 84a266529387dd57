// A webhook receiver in a process of its own, as a host's would be (not
// sharing the event loop of the bench's hundreds of clients): it checks each
// signature and prints one JSON line per text message.new, with the moment it
// arrived. Loopback only.
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { spawnServer } from "./bench-kit.ts";

export const webhookSecret = "bench-webhook-secret-0123456789";

/** One text message.new as the receiver saw it: `sentAt` is the payload's sent_at, `at` its arrival (both epoch ms). */
export type Hook = { id: string; sentAt: number; at: number };

/** Starts the receiver process; `hooks()` and `rejected()` read what it reported so far. */
export const spawnReceiver = async () => {
  const receiver = await spawnServer("sync-server/bench/receiver.ts", {});
  const lines = receiver.events as { event?: string; id?: string; sentAt?: number; at?: number }[];
  return {
    url: `http://127.0.0.1:${receiver.port}/hook`,
    hooks: (): Hook[] => lines.flatMap((line) => (line.event === "hook" ? [line as Hook] : [])),
    rejected: () => lines.filter((line) => line.event === "rejected").length,
    stop: async () => {
      receiver.child.kill("SIGTERM");
      await new Promise((resolve) => receiver.child.once("close", resolve));
    },
  };
};

const serve = () => {
  const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const at = Date.now();
      const raw = Buffer.concat(chunks).toString("utf8");
      const timestamp = String(request.headers["x-webhook-timestamp"]);
      const expected = `sha256=${createHmac("sha256", webhookSecret).update(`${timestamp}.${raw}`).digest("hex")}`;
      if (request.headers["x-webhook-signature"] !== expected) {
        print({ event: "rejected" });
        response.writeHead(401).end();
        return;
      }
      const body = JSON.parse(raw) as { event: string; data: { message?: { id: string; sent_at: string; message_type: string } } };
      const message = body.data.message;
      if (body.event === "message.new" && message?.message_type === "text") {
        print({ event: "hook", id: message.id, sentAt: Date.parse(message.sent_at), at });
      }
      response.writeHead(204).end();
    });
  });
  server.listen(0, "127.0.0.1", () => print({ event: "listening", port: (server.address() as AddressInfo).port }));
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
};

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) serve();
