import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";

/**
 * The HTTP transport carries the same Hocuspocus frames as the WebSocket, for
 * networks whose proxies refuse WebSocket upgrades. A session is opened with a
 * POST, client frames go up in numbered POSTs, server frames come down in
 * long polls; both directions resend on failure and skip what the other side
 * already has, so every frame is handled exactly once.
 */
export const httpSyncPath = "/api/v1/http-sync/sessions";

/** How long the server holds a poll that has nothing to deliver yet. */
export const httpPollHoldMs = 20_000;

/** Frames are concatenated, each prefixed by its length as a varuint. */
export const encodeFrames = (frames: readonly Uint8Array[]): Uint8Array<ArrayBuffer> => {
  const encoder = encoding.createEncoder();
  for (const frame of frames) encoding.writeVarUint8Array(encoder, frame);
  return encoding.toUint8Array(encoder) as Uint8Array<ArrayBuffer>;
};

/** The frames of a body, or null when it is not a whole number of well-formed frames. */
export const decodeFrames = (bytes: Uint8Array): Uint8Array[] | null => {
  const decoder = decoding.createDecoder(bytes);
  const frames: Uint8Array[] = [];
  try {
    while (decoding.hasContent(decoder)) {
      const length = decoding.readVarUint(decoder);
      if (length > bytes.byteLength - decoder.pos) return null;
      frames.push(decoding.readUint8Array(decoder, length));
    }
  } catch {
    return null;
  }
  return frames;
};
