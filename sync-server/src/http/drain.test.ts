import { Agent, createServer, get, type IncomingMessage, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, test } from "vitest";
import { drain } from "./drain.ts";

const servers: ReturnType<typeof createServer>[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.closeAllConnections();
});

const serve = (handler: RequestListener) =>
  new Promise<{ server: ReturnType<typeof createServer>; port: number }>((resolve) => {
    const server = createServer(handler);
    servers.push(server);
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port }));
  });

const fetchOn = (agent: Agent, port: number) =>
  new Promise<{ response: IncomingMessage; body: string }>((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/poll", agent }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => {
        body += chunk;
      });
      response.on("end", () => resolve({ response, body }));
      response.on("error", reject);
    }).on("error", reject);
  });

test("a client that polls again at once on its keep-alive connection is told to close it, and the drain ends", async () => {
  let answered = 0;
  const { server, port } = await serve((_request, response) => {
    answered += 1;
    setTimeout(() => response.end(`poll ${answered}`), 5);
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const seen: { body: string; connection: string | undefined }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        const { response, body } = await fetchOn(agent, port);
        seen.push({ body, connection: response.headers.connection });
      } catch {
        return; // the listener is closed: a real client would go elsewhere
      }
    }
  })();
  while (seen.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
  // A grace far longer than the test's own timeout: the drain has to end because the poller's connection closed.
  const drained = drain(server, 600_000);
  await drained;
  polling = false;
  await poller;
  agent.destroy();
  // Every poll the server took was answered whole, and the last one told the client to close its connection.
  expect(seen.map((poll) => poll.body)).toEqual(seen.map((_, index) => `poll ${index + 1}`));
  expect(seen.length).toBe(answered);
  expect(seen.at(-1)?.connection).toBe("close");
  expect(seen.slice(0, 3).every((poll) => poll.connection === "keep-alive")).toBe(true);
});

test("a request that never finishes and an upgraded socket that never closes are cut after the grace", async () => {
  const { server, port } = await serve(() => {
    // never answers
  });
  const hanging = fetchOn(new Agent({ keepAlive: true }), port).then(
    () => "answered",
    (error: NodeJS.ErrnoException) => error.code,
  );
  while ((await new Promise<number>((resolve) => server.getConnections((_, count) => resolve(count)))) === 0) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const terminated: string[] = [];
  await drain(server, 100, () => [{ terminate: () => terminated.push("socket") }]);
  expect(await hanging).toBe("ECONNRESET");
  expect(terminated).toEqual(["socket"]);
});
