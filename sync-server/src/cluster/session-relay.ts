import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { type HttpSessions, runLocally, type SessionAnswer, type SessionCall } from "../sync/http-sessions.ts";
import type { Logger } from "../sync/logger.ts";
import { redisClient } from "./fanout.ts";

type WireCall = { op: "poll"; from: number } | { op: "post"; seq: number; body: string } | { op: "end" };
type WireAnswer = Exclude<SessionAnswer, { kind: "frames" }> | { kind: "frames"; frames: string };
type Envelope =
  | { kind: "call"; id: string; replyTo: string; session: string; call: WireCall }
  | { kind: "answer"; id: string; answer: WireAnswer };

const channelOf = (node: string) => `mtchat:http-sync:${node}`;

const toWire = (call: SessionCall): WireCall => (call.op === "post" ? { ...call, body: Buffer.from(call.body).toString("base64") } : call);
const fromWire = (call: WireCall): SessionCall =>
  call.op === "post" ? { ...call, body: new Uint8Array(Buffer.from(call.body, "base64")) } : call;

const unreachable = (reason: string): SessionAnswer => ({ kind: "closed", code: 4503, reason: `unavailable: ${reason}` });

/**
 * Carries HTTP transport calls to the node holding the session, through
 * Redis, when the load balancer sent them elsewhere (no sticky sessions are
 * needed). A node that is gone, or Redis away, answers "closed": the client
 * opens a new session wherever it lands, and Yjs sync brings it up to date.
 */
export class SessionRelay {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly waiting = new Map<string, (answer: SessionAnswer) => void>();
  private stopped = false;

  constructor(
    url: string,
    private readonly sessions: HttpSessions,
    private readonly logger: Logger,
    /** How long to wait for the holding node, beyond a poll's hold. */
    private readonly timeoutMs: number,
  ) {
    this.pub = redisClient(url, logger, "http-sync");
    this.sub = redisClient(url, logger, "http-sync-sub");
  }

  async start(): Promise<void> {
    this.sub.on("message", (_channel: string, message: string) => this.onMessage(message));
    await this.sub.subscribe(channelOf(this.sessions.nodeId)).catch((error: unknown) => {
      // ioredis subscribes again once Redis is back.
      this.logger.warn("http_sync_relay_unavailable", { error: String(error) });
    });
  }

  async call(node: string, session: string, call: SessionCall): Promise<SessionAnswer> {
    // The session is fine where it is; only this way to it is not.
    if (this.stopped) return { kind: "unavailable", message: "this server is shutting down; send it again" };
    const id = randomUUID();
    const answered = new Promise<SessionAnswer>((resolve) => {
      const timer = setTimeout(() => settle(unreachable("the node holding this session did not answer")), this.timeoutMs);
      const settle = (answer: SessionAnswer) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(answer);
      };
      this.waiting.set(id, settle);
    });
    const envelope: Envelope = { kind: "call", id, replyTo: this.sessions.nodeId, session, call: toWire(call) };
    try {
      const receivers = await this.pub.publish(channelOf(node), JSON.stringify(envelope));
      if (receivers === 0) this.waiting.get(id)?.(unreachable("the node holding this session is gone"));
    } catch (error) {
      this.waiting.get(id)?.({ kind: "unavailable", message: `the cluster relay is away (${String(error)}); send it again` });
    }
    return answered;
  }

  private onMessage(message: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(message) as Envelope;
    } catch {
      return;
    }
    if (envelope.kind === "answer") {
      const { answer } = envelope;
      this.waiting.get(envelope.id)?.(
        answer.kind === "frames" ? { kind: "frames", frames: new Uint8Array(Buffer.from(answer.frames, "base64")) } : answer,
      );
      return;
    }
    void this.answer(envelope);
  }

  private async answer(envelope: Extract<Envelope, { kind: "call" }>): Promise<void> {
    const answer = await runLocally(this.sessions, envelope.session, fromWire(envelope.call));
    const wire: WireAnswer = answer.kind === "frames" ? { kind: "frames", frames: Buffer.from(answer.frames).toString("base64") } : answer;
    const reply: Envelope = { kind: "answer", id: envelope.id, answer: wire };
    await this.pub.publish(channelOf(envelope.replyTo), JSON.stringify(reply)).catch((error: unknown) => {
      this.logger.warn("http_sync_relay_failed", { session: envelope.session, error: String(error) });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const settle of [...this.waiting.values()])
      settle({ kind: "unavailable", message: "this server is shutting down; send it again" });
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
