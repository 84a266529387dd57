import { describe, expect, test } from "vitest";
import { tokenFromUrl } from "./token-url.ts";

/** A stand-in for the host's token endpoint: fetch answering a fixed response, recording what was asked. */
const answering = (response: Response, asked: RequestInit[] = []) =>
  (async (_url: string | URL | Request, init?: RequestInit) => {
    asked.push(init ?? {});
    return response.clone();
  }) as typeof fetch;

describe("the token endpoint", () => {
  test("answers the JWT as plain text or as JSON {token}, asked with the page's cookies", async () => {
    const asked: RequestInit[] = [];
    expect(await tokenFromUrl("https://shop.example/chat-token", answering(new Response("a.b.c\n"), asked))()).toBe("a.b.c");
    expect(await tokenFromUrl("https://shop.example/chat-token", answering(new Response('{"token":"x.y.z"}')))()).toBe("x.y.z");
    expect(asked[0]?.credentials).toBe("include");
  });

  test("a refusal or JSON without a token is an error that names the endpoint", async () => {
    await expect(tokenFromUrl("/chat-token", answering(new Response("", { status: 401 })))()).rejects.toThrow("/chat-token answered 401");
    await expect(tokenFromUrl("/chat-token", answering(new Response('{"jwt":"x"}')))()).rejects.toThrow('without a "token"');
  });
});
