// The baseline: plain Hocuspocus 4.7 with no extensions, embedded exactly as the
// service embeds it (node http + ws), so the comparison isolates our hooks.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Hocuspocus } from "@hocuspocus/server";
import { WebSocketServer } from "ws";

const hocuspocus = new Hocuspocus({ quiet: true });
const wss = new WebSocketServer({ noServer: true });
wss.on("connection", (socket, request) => {
  const connection = hocuspocus.handleConnection(socket, new Request(`http://localhost${request.url ?? "/"}`));
  socket.on("message", (data: Buffer) => connection.handleMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
  socket.on("close", (code, reason) => connection.handleClose({ code, reason: reason.toString() }));
});
const http = createServer((_req, res) => res.end("raw"));
http.on("upgrade", (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request)));
http.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ event: "listening", port: (http.address() as AddressInfo).port })}\n`);
});
process.on("SIGTERM", () => process.exit(0));
