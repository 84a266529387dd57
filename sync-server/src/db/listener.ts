import type pg from "pg";
import type { Logger } from "../sync/logger.ts";

export type ListenerOptions = {
  channels: readonly string[];
  onMessage: (channel: string, payload: string) => void;
  /** After the connection came back: notifications sent meanwhile were missed, so look at the state itself. */
  onReconnect?: () => void;
  /** The event logged when the connection is lost. */
  name: string;
  logger: Logger;
};

/**
 * LISTENs on PostgreSQL channels on a connection of its own. When the
 * connection breaks (PostgreSQL restarted, a network drop), it listens again
 * with a growing delay, up to 10 s, until it succeeds, and then calls
 * `onReconnect`: it never gives up and never throws out of an event handler.
 */
export class Listener {
  private client: pg.PoolClient | null = null;
  private retry: NodeJS.Timeout | null = null;
  private delayMs = 250;
  private stopping = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: ListenerOptions,
  ) {}

  /** Listens; rejects only when the first attempt fails (the caller decides whether starting without it is fine). */
  async start(): Promise<void> {
    this.stopping = false;
    await this.listen();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const client = this.client;
    this.client = null;
    if (!client) return;
    for (const channel of this.options.channels) await client.query(`UNLISTEN ${channel}`).catch(() => undefined);
    client.release();
  }

  private async listen(): Promise<void> {
    const client = await this.pool.connect();
    client.on("notification", (message) => {
      if (message.payload !== undefined) this.options.onMessage(message.channel, message.payload);
    });
    client.on("error", (error) => {
      this.options.logger.warn(this.options.name, { error: String(error) });
      if (this.client !== client) return;
      this.client = null;
      client.release(error);
      this.again();
    });
    try {
      for (const channel of this.options.channels) await client.query(`LISTEN ${channel}`);
    } catch (error) {
      client.release(error as Error);
      throw error;
    }
    if (this.stopping) {
      client.release();
      return;
    }
    this.client = client;
    this.delayMs = 250;
  }

  private again(): void {
    if (this.stopping) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.listen().then(
        () => this.options.onReconnect?.(),
        () => {
          this.delayMs = Math.min(this.delayMs * 2, 10_000);
          this.again();
        },
      );
    }, this.delayMs);
  }
}
