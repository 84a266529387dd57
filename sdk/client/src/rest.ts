import type { ErrorKind, RichNode } from "@mtchat/protocol";
import type { TokenSource } from "./token.ts";

/** A dialog as the Chat API lists it. Fields marked "participants only" are absent for potential participants. */
export type DialogSummary = {
  id: string;
  type: string;
  object_id: string;
  object_type: string;
  title: string | null;
  object_url: string | null;
  created_at: string;
  participants_count: number;
  i_am_participant: boolean;
  can_join: boolean;
  last_activity_at?: string;
  /** Participants only. */
  unread_count?: number;
  /** Participants only. */
  is_archived?: boolean;
  /** Participants only. */
  is_pinned?: boolean;
  /** Participants only. */
  notifications_enabled?: boolean;
  /** Participants only. */
  last_message?: { id: string; sender_id: string; message_type: string; content: string; sent_at: string } | null;
};

export type ApiMessage = {
  id: string;
  dialog_id: string;
  sender_id: string;
  message_type: string;
  content: string;
  body: RichNode | null;
  sent_at: string;
  last_edited_at: string | null;
  reply_to_id: string | null;
  attachments: { id: string; name: string; mime: string; size: number }[];
  deleted: boolean;
  reactions: Record<string, string[]>;
  seq: number;
  /** The segment document holding it (`dialog/<id>/seg/<segment>`). */
  segment: number;
  /** For system messages, what happened (`event`, `user_id` …). */
  system: Record<string, unknown> | null;
};

export type HistoryPage = {
  messages: ApiMessage[];
  first_unread_message_id: string | null;
  has_more_before: boolean;
  has_more_after: boolean;
};

export type Participant = {
  user_id: string;
  display_name: string;
  company: string | null;
  role: string;
  is_online: boolean;
  last_read_message_id: string | null;
};

export type SearchHit = {
  dialog_id: string;
  message_id: string;
  sender_id: string;
  content: string;
  /** The content, HTML-escaped by the server, with matches in `<mark>`. */
  highlight: string;
  sent_at: string;
  rank: number;
};

export type Attachment = {
  id: string;
  dialog_id: string;
  status: string;
  filename: string;
  /** Detected from the bytes when the upload completed. */
  mime: string | null;
  size: number | null;
  width: number | null;
  height: number | null;
  url: string | null;
  thumbnail_url: string | null;
};

/** An error answered by the Chat API, with its stable `code` and a message that says the fix. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: ErrorKind | "network",
    message: string,
  ) {
    super(message);
  }
}

/** Typed calls to the Chat API with the user's token; every answer's `{data}` is unwrapped. */
export class RestClient {
  constructor(
    private readonly baseUrl: string,
    private readonly tokens: TokenSource,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  async call<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
    let token: string;
    try {
      token = await this.tokens.get();
    } catch (error) {
      // Offline, the host's token endpoint is as unreachable as we are.
      throw new ApiError(0, "network", `no token could be fetched (${String(error)})`);
    }
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      throw new ApiError(0, "network", `the chat server could not be reached (${String(error)})`);
    }
    if (response.status === 401 && !retried) {
      // The token may have expired between our check and the server's: fetch a fresh one once.
      this.tokens.invalidate();
      return this.call<T>(method, path, body, true);
    }
    const payload = (await response.json().catch(() => null)) as { data?: T; error?: { code: ErrorKind; message: string } } | null;
    if (!response.ok || !payload || payload.error) {
      throw new ApiError(response.status, payload?.error?.code ?? "internal", payload?.error?.message ?? `HTTP ${response.status}`);
    }
    return payload.data as T;
  }

  listDialogs(query: { type?: "participating" | "available"; archived?: boolean; search?: string; limit?: number; cursor?: string } = {}) {
    return this.call<{ items: DialogSummary[]; next_cursor: string | null }>("GET", `/api/v1/dialogs${queryString(query)}`);
  }

  getDialog(dialogId: string) {
    return this.call<DialogSummary>("GET", `/api/v1/dialogs/${dialogId}`);
  }

  dialogsByObject(objectType: string, objectId: string) {
    return this.call<DialogSummary[]>("GET", `/api/v1/dialogs/by-object/${enc(objectType)}/${enc(objectId)}/list`);
  }

  history(dialogId: string, query: { before?: string; after?: string; around?: string; limit?: number } = {}) {
    return this.call<HistoryPage>("GET", `/api/v1/dialogs/${dialogId}/messages${queryString(query)}`);
  }

  participants(dialogId: string) {
    return this.call<Participant[]>("GET", `/api/v1/dialogs/${dialogId}/participants`);
  }

  search(q: string, limit = 20) {
    return this.call<{ results: SearchHit[]; next_cursor: string | null }>("GET", `/api/v1/search${queryString({ q, limit })}`);
  }

  join(dialogId: string) {
    return this.call<unknown>("POST", `/api/v1/dialogs/${dialogId}/join`, {});
  }

  leave(dialogId: string) {
    return this.call<unknown>("POST", `/api/v1/dialogs/${dialogId}/leave`, {});
  }

  markRead(dialogId: string, messageId: string) {
    return this.call<unknown>("POST", `/api/v1/dialogs/${dialogId}/read`, { message_id: messageId });
  }

  setFlag(dialogId: string, action: "archive" | "unarchive" | "pin" | "unpin") {
    return this.call<unknown>("POST", `/api/v1/dialogs/${dialogId}/${action}`, {});
  }

  presignUpload(dialogId: string, file: { name: string; type: string; size: number }) {
    return this.call<{ attachment_id: string; upload_url: string; method: "PUT"; expires_in: number }>("POST", "/api/v1/upload/presign", {
      dialog_id: dialogId,
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      size: file.size,
    });
  }

  completeUpload(attachmentId: string) {
    return this.call<Attachment>("POST", `/api/v1/attachments/${attachmentId}/complete`, {});
  }

  attachment(attachmentId: string) {
    return this.call<Attachment>("GET", `/api/v1/attachments/${attachmentId}`);
  }
}

const enc = encodeURIComponent;

const queryString = (query: Record<string, string | number | boolean | undefined>): string => {
  const parts = Object.entries(query)
    .filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined)
    .map(([key, value]) => `${enc(key)}=${enc(String(value))}`);
  return parts.length > 0 ? `?${parts.join("&")}` : "";
};
