/**
 * The token function for `data-token-url`: a GET on the host page's own endpoint, with its cookies (the host knows
 * who is signed in), answering the user's JWT as text/plain or as JSON `{"token": "…"}`. The client calls it again
 * when the token is about to expire and after the service refused it.
 */
export const tokenFromUrl =
  (tokenUrl: string, fetchImpl: typeof fetch = fetch) =>
  async (): Promise<string> => {
    // Relative to the host page: the endpoint lives on the host's site, not on the chat service.
    const url = typeof location === "undefined" ? tokenUrl : new URL(tokenUrl, location.href).href;
    const response = await fetchImpl(url, {
      credentials: "include",
      headers: { accept: "application/json, text/plain" },
    });
    if (!response.ok) throw new Error(`the token endpoint ${tokenUrl} answered ${response.status}: it must answer 200 with the user's JWT`);
    const body = (await response.text()).trim();
    if (!body.startsWith("{")) return body;
    const parsed = JSON.parse(body) as { token?: unknown };
    if (typeof parsed.token !== "string") throw new Error(`the token endpoint ${tokenUrl} answered JSON without a "token" string`);
    return parsed.token;
  };
