type Constructor = new (...args: never[]) => object;

/**
 * A WebSocket class whose sockets always have an error listener. With Node's
 * `ws`, closing a socket that is still opening makes it emit "error" on the
 * next tick, and HocuspocusProviderWebsocket.destroy() removes its own
 * listeners in between: the error is then unhandled and ends the process.
 * The provider still sees every error through its own listeners. A class
 * without `on` (the browsers' WebSocket needs none of this) is returned as it is.
 */
export const quietWebSocket = <T>(Base: T): T => {
  if (typeof Base !== "function" || typeof (Base.prototype as { on?: unknown } | undefined)?.on !== "function") return Base;
  const Class = Base as unknown as Constructor;
  class Quiet extends Class {
    constructor(...args: never[]) {
      super(...args);
      (this as unknown as { on(event: "error", listener: () => void): void }).on("error", () => undefined);
    }
  }
  return Quiet as unknown as T;
};
