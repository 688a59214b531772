/**
 * Plain HTTP for tests that talk to a gateway in another process (the compiled CLI): a free loopback
 * port to give it, and one exchange on a fresh connection (`agent: false`), so that no keep-alive pool
 * outlives the process under test or hides a closed listener, and so that with `workers` the
 * connections are what get spread.
 */
import http from "node:http";
import net from "node:net";

/** A port nothing listens on right now: bind 0, read it, close. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: any;
  /** Wall time of the exchange, ms. */
  ms: number;
}

/** One HTTP exchange with 127.0.0.1:`port` on a fresh connection; `token` goes in a Bearer header, `body` as JSON. */
export function call(port: number, method: string, urlPath: string, options: { token?: string; body?: unknown } = {}): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const request = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers, agent: false }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
      });
      response.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body, ms: performance.now() - started });
      });
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(payload);
  });
}

/** A v3 password login asking for a refresh token (the fake homeserver's users: alice/wonderland, bob/builder). */
export const login = (port: number, user = "alice", password = "wonderland") =>
  call(port, "POST", "/_matrix/client/v3/login", {
    body: { type: "m.login.password", identifier: { type: "m.id.user", user }, password, refresh_token: true },
  });
