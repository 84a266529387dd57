import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { until } from "./wait.ts";

/** A delivery's body, as documented for receivers. */
export type WebhookBody = {
  id: string;
  event: string;
  created_at: string;
  project_id: string;
  data: Record<string, unknown> & { dialog_id?: string; message?: { id: string; content: string } };
};

/** One request the receiver got, with what it answered. */
export type Received = {
  id: string;
  event: string;
  timestamp: number;
  raw: string;
  body: WebhookBody;
  status: number;
  /** When it arrived, on this process's clock. */
  at: number;
};

export type Reply = { status: number; headers?: Record<string, string>; hold?: Promise<void> };
export type Behaviour = (request: { id: string; event: string; body: WebhookBody }, attempt: number) => Reply;

/**
 * A real webhook receiver on 127.0.0.1, doing what the README tells receivers
 * to do: it recomputes the HMAC over `timestamp + "." + raw body` with its
 * secret and refuses (401) a bad signature or a timestamp more than five
 * minutes away. Tests script its answers per dialog.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Requests that failed verification; a correct dispatcher leaves this empty. */
  readonly rejected: { reason: string; headers: Record<string, unknown> }[] = [];
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly listeners = new Set<() => void>();
  private port = 0;

  private constructor(
    private readonly server: Server,
    private readonly secret: string,
  ) {}

  static async start(secret: string): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server, secret);
    server.on("request", (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => void receiver.handle(request.headers, Buffer.concat(chunks).toString("utf8"), response));
    });
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  /** Scripts the answers for one dialog's events (default: 200). */
  behave(dialogId: string, behaviour: Behaviour): void {
    this.behaviours.set(dialogId, behaviour);
  }

  /** Stops listening: deliveries now meet a refused connection. */
  async down(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Listens (again, on the same port once it has one). */
  async up(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  /** Requests about one dialog, in arrival order. */
  of(dialogId: string): Received[] {
    return this.received.filter((request) => request.body.data.dialog_id === dialogId);
  }

  /** Successful deliveries (2xx answers) about one dialog, in arrival order. */
  deliveredOf(dialogId: string): Received[] {
    return this.of(dialogId).filter((request) => request.status >= 200 && request.status < 300);
  }

  /** Waits until `check` holds, re-checking on each request. */
  until<T>(check: () => T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
    return until(
      check,
      (notify) => {
        this.listeners.add(notify);
        return () => this.listeners.delete(notify);
      },
      { what, timeoutMs },
    );
  }

  private verify(headers: Record<string, string | string[] | undefined>, raw: string): string | null {
    const timestamp = Number(headers["x-webhook-timestamp"]);
    const signature = String(headers["x-webhook-signature"] ?? "");
    if (!Number.isInteger(timestamp)) return "no timestamp";
    if (Math.abs(Date.now() / 1000 - timestamp) > 300) return "stale timestamp";
    const expected = `sha256=${createHmac("sha256", this.secret).update(`${timestamp}.${raw}`).digest("hex")}`;
    if (signature.length !== expected.length || !timingSafeEqual(Buffer.from(signature), Buffer.from(expected))) return "bad signature";
    return null;
  }

  private async handle(
    headers: Record<string, string | string[] | undefined>,
    raw: string,
    response: import("node:http").ServerResponse,
  ): Promise<void> {
    const problem = this.verify(headers, raw);
    if (problem) {
      this.rejected.push({ reason: problem, headers });
      response.writeHead(401).end(problem);
      return;
    }
    const body = JSON.parse(raw) as WebhookBody;
    const id = String(headers["x-webhook-id"]);
    const event = String(headers["x-webhook-event"]);
    const attempt = this.received.filter((request) => request.id === id).length + 1;
    const behaviour = this.behaviours.get(body.data.dialog_id ?? "");
    const reply = behaviour ? behaviour({ id, event, body }, attempt) : { status: 200 };
    this.received.push({ id, event, timestamp: Number(headers["x-webhook-timestamp"]), raw, body, status: reply.status, at: Date.now() });
    this.notify();
    await reply.hold;
    response.writeHead(reply.status, reply.headers ?? {}).end(reply.status < 300 ? "ok" : "no");
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
