/**
 * Bounds on what a client may write, shared by the server's inspector, the
 * projection, the REST API and the SDK's renderer, so every place that reads
 * a body agrees on what a body can be.
 */

/**
 * Deepest nesting of elements in a rich body (a message or a draft): the
 * composer's deepest structure, a list inside a list eight times over, needs
 * about 18. Anything deeper is refused on write and cut off on read.
 */
export const maxBodyDepth = 24;

/**
 * Longest message by default, in characters of text (attribute values count
 * too). The service's `MAX_MESSAGE_CHARS` option sets the limit; REST and the
 * WebSocket enforce the same one.
 */
export const defaultMaxMessageChars = 20_000;

/** Most attachments one message may carry. */
export const maxAttachments = 20;
