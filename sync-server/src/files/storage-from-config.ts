import path from "node:path";
import type { Config } from "../config/options.ts";
import type { FileStorage } from "./file-storage.ts";
import { LocalFileStorage } from "./local-storage.ts";
import { S3FileStorage } from "./s3-storage.ts";
import { persistentSecret, UrlSigner } from "./url-signing.ts";

/** S3 when S3_BUCKET is set; otherwise local disk under DATA_DIR/files, with links this server signs and serves. */
export const storageFromConfig = (config: Config): FileStorage => {
  if (config.s3Bucket) {
    return new S3FileStorage({
      bucket: config.s3Bucket,
      region: config.s3Region,
      endpoint: config.s3Endpoint,
      forcePathStyle: config.s3ForcePathStyle,
      credentials:
        config.s3AccessKeyId && config.s3SecretAccessKey
          ? { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey }
          : undefined,
    });
  }
  const signer = new UrlSigner(persistentSecret(config.fileUrlSecret, config.dataDir));
  return new LocalFileStorage(path.resolve(config.dataDir, "files"), signer);
};
