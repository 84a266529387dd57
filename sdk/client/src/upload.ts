import type { AttachmentRef } from "@mtchat/protocol";
import type { Attachment, RestClient } from "./rest.ts";

export class UploadError extends Error {
  override name = "UploadError";
}

/**
 * Uploads a file to a dialog: presign, PUT the bytes (with progress, 0..1),
 * complete. Resolves with the checked attachment and the reference a message
 * carries. Uses XMLHttpRequest where it exists, because fetch reports no upload progress.
 */
export const uploadFile = async (
  rest: RestClient,
  dialogId: string,
  file: Blob & { name: string },
  onProgress: (fraction: number) => void = () => undefined,
): Promise<{ attachment: Attachment; ref: AttachmentRef }> => {
  const presigned = await rest.presignUpload(dialogId, { name: file.name, type: file.type, size: file.size });
  await put(presigned.upload_url, file, onProgress);
  const attachment = await rest.completeUpload(presigned.attachment_id);
  if (attachment.status !== "ready") throw new UploadError(`the file was not accepted (${attachment.status})`);
  onProgress(1);
  return {
    attachment,
    ref: { id: attachment.id, name: attachment.filename, mime: attachment.mime ?? file.type, size: attachment.size ?? file.size },
  };
};

const put = async (url: string, file: Blob, onProgress: (fraction: number) => void): Promise<void> => {
  if (typeof XMLHttpRequest === "undefined") {
    const response = await fetch(url, { method: "PUT", body: file, headers: { "content-type": file.type || "application/octet-stream" } });
    if (!response.ok) throw new UploadError(`the upload failed with HTTP ${response.status}`);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.setRequestHeader("content-type", file.type || "application/octet-stream");
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(Math.min(0.99, event.loaded / event.total));
    };
    request.onload = () => (request.status < 300 ? resolve() : reject(new UploadError(`the upload failed with HTTP ${request.status}`)));
    request.onerror = () => reject(new UploadError("the upload failed: network error"));
    request.send(file);
  });
};
