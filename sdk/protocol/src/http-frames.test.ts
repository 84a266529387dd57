import fc from "fast-check";
import { expect, test } from "vitest";
import { decodeFrames, encodeFrames } from "./http-frames.ts";

test("frames survive the trip through one body, in order, empty ones too", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (frames) => {
      expect(decodeFrames(encodeFrames(frames))).toEqual(frames);
    }),
  );
});

test("a body cut inside a frame, or a length past its end, is not taken for frames", () => {
  const body = encodeFrames([new Uint8Array([1, 2, 3]), new Uint8Array(200)]);
  for (let cut = 1; cut < body.byteLength; cut += 1) {
    if (cut === 4) continue; // the first frame ends exactly here
    expect(decodeFrames(body.subarray(0, cut)), `cut at ${cut}`).toBeNull();
  }
  expect(decodeFrames(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]))).toBeNull();
});
