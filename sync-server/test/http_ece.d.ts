declare module "http_ece" {
  import type { ECDH } from "node:crypto";

  /** The part of http_ece 1.2 (which ships no types) the web push test uses: decrypting an aes128gcm body as the browser would. */
  export function decrypt(buffer: Buffer, params: { version: "aes128gcm"; privateKey: ECDH; authSecret: string }): Buffer;
}
