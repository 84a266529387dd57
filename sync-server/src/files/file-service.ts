import { type Decision, type Denial, deny } from "@mtchat/authz";
import { type AttachmentRef, isErrorKind } from "@mtchat/protocol";
import type pg from "pg";
import { v7 as uuidv7 } from "uuid";
import type { User } from "../auth/verify-token.ts";
import { ApiError } from "../http/errors.ts";
import type { DialogAccess } from "../sync/dialog-access.ts";
import type { Logger } from "../sync/logger.ts";
import { attachmentKey, filenameProblem, thumbnailKey } from "./file-keys.ts";
import type { FileStorage } from "./file-storage.ts";
import { describeImage, detectMime, isThumbnailType } from "./inspect-file.ts";
import type { LocalFileStorage } from "./local-storage.ts";

export type FileServiceOptions = {
  /** MAX_UPLOAD_BYTES. */
  maxUploadBytes: number;
  /** UPLOAD_MIME_TYPES. */
  allowedMimeTypes: readonly string[];
  /** FILE_URL_TTL_SECONDS: lifetime of every link handed out. */
  urlTtlSeconds: number;
};

export type AttachmentStatus = "pending" | "ready" | "rejected";

type AttachmentRow = {
  id: string;
  project_id: string;
  dialog_id: string;
  uploader_id: string;
  key: string;
  filename: string;
  content_type: string;
  declared_size: string;
  mime: string | null;
  size: string | null;
  width: number | null;
  height: number | null;
  thumbnail_key: string | null;
  thumbnail_width: number | null;
  thumbnail_height: number | null;
  version: string | null;
  status: AttachmentStatus;
  rejection_kind: string | null;
  rejection_reason: string | null;
  created_at: Date;
};

/** An attachment as the API shows it. Links are relative when this server serves them itself. */
export type AttachmentView = {
  id: string;
  dialog_id: string;
  uploader_id: string;
  filename: string;
  content_type: string;
  mime: string | null;
  size: number | null;
  width: number | null;
  height: number | null;
  thumbnail_width: number | null;
  thumbnail_height: number | null;
  status: AttachmentStatus;
  rejection: { code: string; message: string } | null;
  created_at: string;
  url: string | null;
  thumbnail_url: string | null;
  expires_in: number | null;
};

export type PresignInput = { dialog_id: string; filename: string; content_type: string; size: number };

export type Presigned = { attachment_id: string; key: string; upload_url: string; method: "PUT"; expires_in: number };

/** More than this many attachments on one message is refused. */
export const maxAttachmentsPerMessage = 20;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Used when a client declares nothing better; the bytes decide at finalize. */
const unknownType = "application/octet-stream";

/**
 * Attachments: presigned uploads for participants, the checks that make an
 * upload usable (`finalize`), and signed download links. Access is the
 * dialog's: a user who cannot read the dialog gets 404, a potential
 * participant 403.
 */
export class FileService {
  private readonly allowed: ReadonlySet<string>;
  /** Finalizing one attachment twice at once does the work once. */
  private readonly checking = new Map<string, Promise<AttachmentRow | Denial>>();

  constructor(
    private readonly pool: pg.Pool,
    readonly storage: FileStorage,
    private readonly access: DialogAccess,
    readonly options: FileServiceOptions,
    private readonly logger: Logger,
  ) {
    this.allowed = new Set(options.allowedMimeTypes);
  }

  /** The local storage whose links this server serves, or null when files live in S3. */
  get local(): LocalFileStorage | null {
    return this.storage.kind === "local" ? (this.storage as LocalFileStorage) : null;
  }

  private async requireParticipant(user: User, dialogId: string, action: "upload" | "read", missing: string): Promise<void> {
    const granted = await this.access.accessOf(dialogId, user);
    if (!granted) throw new ApiError("not_found", missing);
    if (granted.access === "potential") {
      throw new ApiError("forbidden", "only participants of this dialog may upload to it or read its files; join the dialog first");
    }
    if (action === "upload" && granted.access === "readonly") throw new ApiError("forbidden", "read-only participants cannot upload files");
  }

  /** Registers a pending attachment and returns a link that accepts its bytes. */
  async presign(user: User, input: PresignInput): Promise<Presigned> {
    const problem = filenameProblem(input.filename);
    if (problem) throw new ApiError("bad_request", `filename: refused because ${problem}`);
    const dialogId = input.dialog_id.toLowerCase();
    await this.requireParticipant(user, dialogId, "upload", `dialog ${dialogId} does not exist`);
    if (input.size > this.options.maxUploadBytes) {
      throw new ApiError("payload_too_large", `the file is ${input.size} bytes; the limit is ${this.options.maxUploadBytes} bytes`);
    }
    const declared = (input.content_type.split(";")[0] ?? "").trim().toLowerCase();
    if (!this.allowed.has(declared) && declared !== unknownType) {
      throw new ApiError("unsupported_media_type", `${declared} files are not allowed; allowed types: ${[...this.allowed].join(", ")}`);
    }
    const id = uuidv7();
    const filename = input.filename.normalize("NFC").trim();
    const key = attachmentKey(dialogId, id, filename);
    await this.pool.query(
      `INSERT INTO attachments (id, project_id, dialog_id, uploader_id, key, filename, content_type, declared_size)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [id, user.projectId, dialogId, user.userId, key, filename, declared, input.size],
    );
    const uploadUrl = await this.storage.presignPut(key, { expiresIn: this.options.urlTtlSeconds, maxBytes: input.size });
    return { attachment_id: id, key, upload_url: uploadUrl, method: "PUT", expires_in: this.options.urlTtlSeconds };
  }

  /** An attachment the user may read (a participant of its dialog), or 404/403. */
  private async readable(user: User, attachmentId: string): Promise<AttachmentRow> {
    const missing = `attachment ${attachmentId} does not exist`;
    const { rows } = await this.pool.query<AttachmentRow>("SELECT * FROM attachments WHERE id = $1 AND project_id = $2", [
      attachmentId,
      user.projectId,
    ]);
    const row = rows[0];
    if (!row) throw new ApiError("not_found", missing);
    await this.requireParticipant(user, row.dialog_id, "read", missing);
    return row;
  }

  /** The uploader finalizes their upload (before sending, or for clients that want to know early). */
  async complete(user: User, attachmentId: string): Promise<AttachmentView> {
    const row = await this.readable(user, attachmentId);
    const result = await this.finalize(user.projectId, row.dialog_id, user.userId, [attachmentId]);
    if (!result.ok) throw new ApiError(result.kind, result.reason);
    return this.get(user, attachmentId);
  }

  /** The attachment's metadata; a ready one comes with fresh download links. */
  async get(user: User, attachmentId: string): Promise<AttachmentView> {
    const row = await this.readable(user, attachmentId);
    const links = row.status === "ready" ? await this.signedLinks(row) : null;
    return toView(row, links, this.options.urlTtlSeconds);
  }

  /** Fresh signed links to a ready attachment and its thumbnail. */
  async links(user: User, attachmentId: string): Promise<{ url: string; thumbnail_url: string | null; expires_in: number }> {
    const row = await this.readable(user, attachmentId);
    if (row.status === "pending") {
      throw new ApiError(
        "conflict",
        `attachment ${attachmentId} is not complete: upload its bytes, then POST /api/v1/attachments/{id}/complete`,
      );
    }
    if (row.status === "rejected") throw new ApiError("conflict", `attachment ${attachmentId} was rejected: ${row.rejection_reason}`);
    const links = await this.signedLinks(row);
    return { ...links, expires_in: this.options.urlTtlSeconds };
  }

  /**
   * Links to a ready attachment, after checking the stored object is still
   * the one that was checked: an S3 upload link stays usable until it
   * expires, so bytes replaced after finalizing are refused here, and deleted.
   */
  private async signedLinks(row: AttachmentRow): Promise<{ url: string; thumbnail_url: string | null }> {
    const info = await this.storage.head(row.key);
    if (!info) throw new ApiError("not_found", `the file of attachment ${row.id} is gone from storage`);
    if (info.version !== row.version) {
      const refusal = await this.reject(row, "conflict", "the stored file was replaced after it was checked");
      throw new ApiError("conflict", `attachment ${row.id} was rejected: ${refusal.reason}`);
    }
    const expiresIn = this.options.urlTtlSeconds;
    const url = await this.storage.presignGet(row.key, { expiresIn, contentType: row.mime ?? unknownType, filename: row.filename });
    const thumbnailUrl = row.thumbnail_key
      ? await this.storage.presignGet(row.thumbnail_key, { expiresIn, contentType: "image/webp" })
      : null;
    return { url, thumbnail_url: thumbnailUrl };
  }

  /**
   * Makes attachments usable by a message: each must exist in this project,
   * belong to this dialog and this uploader, and (once, when still pending)
   * its stored object must exist, be no larger than declared, and be of an
   * allowed type by its real bytes; images get dimensions and a thumbnail.
   * A file that fails a check is deleted and the attachment rejected for good.
   * Never throws: a refusal names its kind and the fix.
   */
  async finalize(
    projectId: string,
    dialogId: string,
    userId: string,
    attachmentIds: readonly string[],
  ): Promise<Decision<{ attachments: AttachmentRef[] }>> {
    const ids = [...new Set(attachmentIds.map((id) => id.toLowerCase()))];
    if (ids.length > maxAttachmentsPerMessage) return deny("bad_request", `at most ${maxAttachmentsPerMessage} attachments per message`);
    const malformed = ids.find((id) => !uuidPattern.test(id));
    if (malformed !== undefined) return deny("bad_request", `${JSON.stringify(malformed)} is not an attachment id`);
    try {
      const { rows } = await this.pool.query<AttachmentRow>("SELECT * FROM attachments WHERE id = ANY($1::uuid[])", [ids]);
      const byId = new Map(rows.map((row) => [row.id, row]));
      const attachments: AttachmentRef[] = [];
      for (const id of ids) {
        let row = byId.get(id);
        if (!row || row.project_id !== projectId)
          return deny("not_found", `attachment ${id} does not exist; upload it first (POST /api/v1/upload/presign)`);
        if (row.dialog_id !== dialogId.toLowerCase()) return deny("forbidden", `attachment ${id} belongs to another dialog`);
        if (row.uploader_id !== userId) return deny("forbidden", `attachment ${id} was uploaded by someone else`);
        if (row.status === "pending") {
          const checked = await this.checkOnce(row);
          if ("ok" in checked) return checked;
          row = checked;
        }
        if (row.status === "rejected")
          return deny(rejectionKind(row.rejection_kind), `attachment ${id} was rejected: ${row.rejection_reason}`);
        attachments.push({ id, name: row.filename, mime: row.mime ?? unknownType, size: Number(row.size) });
      }
      return { ok: true, attachments };
    } catch (error) {
      this.logger.error("finalize_failed", {
        dialog: dialogId,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      return deny("unavailable", "the file storage or database did not answer; try again");
    }
  }

  private checkOnce(row: AttachmentRow): Promise<AttachmentRow | Denial> {
    let running = this.checking.get(row.id);
    if (!running) {
      running = this.check(row).finally(() => this.checking.delete(row.id));
      this.checking.set(row.id, running);
    }
    return running;
  }

  /** The checks on a pending attachment's bytes: the row as they leave it, or a denial when nothing was uploaded yet. */
  private async check(row: AttachmentRow): Promise<AttachmentRow | Denial> {
    const info = await this.storage.head(row.key);
    if (!info) {
      return deny("conflict", `attachment ${row.id} has not been uploaded yet: PUT its bytes to the upload_url first`);
    }
    const declared = Number(row.declared_size);
    if (info.size > declared) {
      return this.rejected(row, "payload_too_large", `the file is ${info.size} bytes, more than the ${declared} declared for it`);
    }
    const detected = await detectMime(this.storage, row.key, row.content_type, this.allowed);
    if (!detected.ok) return this.rejected(row, detected.kind, detected.reason);
    let image: { width: number; height: number; thumbnail: { key: string; width: number; height: number } | null } | null = null;
    if (isThumbnailType(detected.mime)) {
      const described = await describeImage(await this.storage.read(row.key));
      if (!described.ok) return this.rejected(row, described.kind, described.reason);
      const { thumbnail } = described;
      if (thumbnail) await this.storage.put(thumbnailKey(row.key), thumbnail.bytes, "image/webp");
      image = {
        width: described.width,
        height: described.height,
        thumbnail: thumbnail ? { key: thumbnailKey(row.key), width: thumbnail.width, height: thumbnail.height } : null,
      };
    }
    // The bytes must not have changed while they were being checked.
    const after = await this.storage.head(row.key);
    if (after?.version !== info.version)
      return this.rejected(row, "conflict", "the file changed while it was being checked; upload it again");
    const { rows } = await this.pool.query<AttachmentRow>(
      `UPDATE attachments SET status = 'ready', mime = $2, size = $3, width = $4, height = $5, thumbnail_key = $6,
         thumbnail_width = $7, thumbnail_height = $8, version = $9, finalized_at = now()
       WHERE id = $1 AND status = 'pending' RETURNING *`,
      [
        row.id,
        detected.mime,
        info.size,
        image?.width ?? null,
        image?.height ?? null,
        image?.thumbnail?.key ?? null,
        image?.thumbnail?.width ?? null,
        image?.thumbnail?.height ?? null,
        info.version,
      ],
    );
    return rows[0] ?? (await this.current(row.id));
  }

  private async current(id: string): Promise<AttachmentRow> {
    const { rows } = await this.pool.query<AttachmentRow>("SELECT * FROM attachments WHERE id = $1", [id]);
    if (!rows[0]) throw new Error(`attachment ${id} vanished while being finalized`);
    return rows[0];
  }

  private async rejected(row: AttachmentRow, kind: Denial["kind"], reason: string): Promise<AttachmentRow> {
    await this.reject(row, kind, reason);
    return this.current(row.id);
  }

  /** Deletes the object (and thumbnail) and marks the attachment rejected for good. */
  private async reject(row: AttachmentRow, kind: Denial["kind"], reason: string): Promise<Denial> {
    await Promise.all([row.key, thumbnailKey(row.key)].map((key) => this.storage.delete(key)));
    await this.pool.query(
      `UPDATE attachments SET status = 'rejected', rejection_kind = $2, rejection_reason = $3, finalized_at = now()
       WHERE id = $1 AND status <> 'rejected'`,
      [row.id, kind, reason],
    );
    this.logger.info("attachment_rejected", { attachment: row.id, dialog: row.dialog_id, kind, reason });
    return deny(kind, reason);
  }
}

const rejectionKind = (kind: string | null): Denial["kind"] => (kind && isErrorKind(kind) ? kind : "bad_request");

const toView = (row: AttachmentRow, links: { url: string; thumbnail_url: string | null } | null, expiresIn: number): AttachmentView => ({
  id: row.id,
  dialog_id: row.dialog_id,
  uploader_id: row.uploader_id,
  filename: row.filename,
  content_type: row.content_type,
  mime: row.mime,
  size: row.size === null ? null : Number(row.size),
  width: row.width,
  height: row.height,
  thumbnail_width: row.thumbnail_width,
  thumbnail_height: row.thumbnail_height,
  status: row.status,
  rejection: row.status === "rejected" ? { code: row.rejection_kind ?? "bad_request", message: row.rejection_reason ?? "" } : null,
  created_at: row.created_at.toISOString(),
  url: links?.url ?? null,
  thumbnail_url: links?.thumbnail_url ?? null,
  expires_in: links ? expiresIn : null,
});
