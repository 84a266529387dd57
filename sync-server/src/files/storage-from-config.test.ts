import path from "node:path";
import { expect, test } from "vitest";
import { parseConfig } from "../config/parse-config.ts";
import { storageFromConfig } from "./storage-from-config.ts";

test("files go to local disk under DATA_DIR unless S3_BUCKET is set", () => {
  const local = storageFromConfig(parseConfig({ DATA_DIR: "/srv/chat" }));
  expect(local).toMatchObject({ kind: "local", root: path.resolve("/srv/chat/files") });
  const s3 = storageFromConfig(
    parseConfig({
      S3_BUCKET: "files",
      S3_ENDPOINT: "http://127.0.0.1:9000",
      S3_FORCE_PATH_STYLE: "true",
      S3_ACCESS_KEY_ID: "a",
      S3_SECRET_ACCESS_KEY: "b",
    }),
  );
  expect(s3.kind).toBe("s3");
  s3.close();
});

test("file options are parsed and checked, each problem naming its variable", () => {
  const config = parseConfig({ UPLOAD_MIME_TYPES: "image/png, text/plain", S3_FORCE_PATH_STYLE: "true" });
  expect(config).toMatchObject({ uploadMimeTypes: ["image/png", "text/plain"], s3ForcePathStyle: true, maxUploadBytes: 104_857_600 });
  expect(parseConfig({}).uploadMimeTypes).toContain("application/pdf");
  expect(() => parseConfig({ UPLOAD_MIME_TYPES: "png" })).toThrow(/UPLOAD_MIME_TYPES: must be MIME types/);
  expect(() => parseConfig({ S3_FORCE_PATH_STYLE: "yes" })).toThrow(/S3_FORCE_PATH_STYLE: must be true or false/);
  expect(() => parseConfig({ S3_ENDPOINT: "http://127.0.0.1:9000" })).toThrow(/S3_BUCKET: required/);
  expect(() => parseConfig({ S3_BUCKET: "files", S3_ACCESS_KEY_ID: "a" })).toThrow(/set both or neither/);
  expect(() => parseConfig({ FILE_URL_SECRET: "short" })).toThrow(/FILE_URL_SECRET: must be at least 32 characters/);
});
