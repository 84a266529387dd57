import path from "node:path";
import webpush from "web-push";
import { readOrCreate } from "../config/kept-file.ts";

/** The server's VAPID identity: browsers subscribe with the public key, pushes are signed with the private one. */
export type VapidKeys = { publicKey: string; privateKey: string; subject: string };

type Configured = { vapidPublicKey?: string | undefined; vapidPrivateKey?: string | undefined; vapidSubject?: string | undefined };

/** VAPID_SUBJECT, else PUBLIC_URL when it is https (push services accept only mailto: and https: contacts), else a placeholder. */
export const vapidSubject = (config: Configured & { publicUrl?: string | undefined }): string =>
  config.vapidSubject ?? (config.publicUrl?.startsWith("https://") ? config.publicUrl : "mailto:push@localhost");

const isPair = (value: unknown): value is { publicKey: string; privateKey: string } =>
  typeof (value as { publicKey?: unknown } | null)?.publicKey === "string" &&
  typeof (value as { privateKey?: unknown } | null)?.privateKey === "string";

/**
 * The configured keys, or a pair generated on first use and kept in
 * DATA_DIR/vapid-keys.json, so the browsers' subscriptions survive a restart
 * (they are bound to the public key). Written whole to a temporary file and
 * linked into place, like the file-link secret, so replicas sharing the
 * directory agree on the first pair.
 */
export const persistentVapidKeys = (
  config: Configured & { dataDir: string; publicUrl?: string | undefined },
): (() => Promise<VapidKeys>) => {
  const subject = vapidSubject(config);
  if (config.vapidPublicKey && config.vapidPrivateKey) {
    const keys = { publicKey: config.vapidPublicKey, privateKey: config.vapidPrivateKey, subject };
    return () => Promise.resolve(keys);
  }
  const file = path.resolve(config.dataDir, "vapid-keys.json");
  const load = async (): Promise<VapidKeys> => {
    const parsed: unknown = JSON.parse(await readOrCreate(file, () => JSON.stringify(webpush.generateVAPIDKeys())));
    if (!isPair(parsed))
      throw new Error(`${file} is not a VAPID key pair: delete it to generate a new one (browsers then subscribe again)`);
    return { publicKey: parsed.publicKey, privateKey: parsed.privateKey, subject };
  };
  let loaded: Promise<VapidKeys> | null = null;
  return () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = null;
      throw error;
    });
    return loaded;
  };
};
