/**
 * The shape every long-running part shares (sync server, projection worker):
 * `start()` returns once it is serving; `stop()` drains in-flight work first.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
