import { crc32 } from "node:zlib";
import sharp from "sharp";
import { expect, test } from "vitest";
import { describeImage, maxThumbnailPixels } from "./inspect-file.ts";

/** A real PNG whose header is rewritten to claim other dimensions (with a valid checksum), as a decompression bomb would. */
const pngClaiming = async (width: number, height: number): Promise<Buffer> => {
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: "#fff" } })
    .png()
    .toBuffer();
  // Signature (8 bytes), then the IHDR chunk: length (4), type (4), width (4), height (4), …, CRC over type and data.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
};

test("an image claiming more pixels than is safe to decode is measured from its header, without a thumbnail", async () => {
  const bomb = await pngClaiming(20_000, 20_000);
  expect(20_000 * 20_000).toBeGreaterThan(maxThumbnailPixels);
  expect(await describeImage(bomb)).toEqual({ ok: true, width: 20_000, height: 20_000, thumbnail: null });
});

test("an image whose signature is right but whose content is not is refused", async () => {
  const broken = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from("not really a png")]);
  expect(await describeImage(broken)).toMatchObject({ ok: false, kind: "unsupported_media_type" });
  // Within the limit the pixels are decoded: a truncated image fails there.
  expect(await describeImage(await pngClaiming(2000, 2000))).toMatchObject({ ok: false, kind: "unsupported_media_type" });
});
