/**
 * The client's side of the redirect: a loopback HTTP server (RFC 8252 §7.3, how a native app
 * receives the authorization response) that records every request to its callback path and answers
 * a small page. Query-mode parameters reach it; fragment-mode ones stay in the browser (read the
 * page's URL for those).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Test } from "tap";

export interface RedirectCatcher {
  /** `http://127.0.0.1:<port>/callback`: the redirect_uri to send at authorization. */
  redirectUri: string;
  origin: string;
  /** Every URL requested so far. */
  hits: URL[];
  /** The first request to the callback path, within `ms`; rejects on timeout. */
  next(ms: number): Promise<URL>;
}

export async function startRedirectCatcher(t: Test): Promise<RedirectCatcher> {
  const hits: URL[] = [];
  /** Called with each hit until one returns true. */
  const waiters = new Set<(url: URL) => boolean>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    hits.push(url);
    for (const wake of waiters) if (wake(url)) waiters.delete(wake);
    const page = "<!doctype html><title>signed in</title><p id=done>You can close this window.</p>";
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(page) });
    res.end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const next = (ms: number) =>
    new Promise<URL>((resolve, reject) => {
      const first = hits.find((hit) => hit.pathname === "/callback");
      if (first) return resolve(first);
      const timer = setTimeout(() => reject(new Error(`no redirect reached ${origin}/callback within ${ms} ms`)), ms);
      waiters.add((url) => {
        if (url.pathname !== "/callback") return false;
        clearTimeout(timer);
        resolve(url);
        return true;
      });
    });
  return { redirectUri: `${origin}/callback`, origin, hits, next };
}
