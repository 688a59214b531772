/**
 * A real browser: Debian's headless Chromium (driven by playwright-core, never a downloaded browser)
 * loads a page from another origin whose script calls the gateway with fetch(), as Element Web does.
 * Proves the CORS contract ("Browsers" in contract.md): preflights are answered without a token, and
 * the gateway's own answers — successes and errors alike — are readable from JavaScript.
 *
 * A real homeserver (Synapse) sends the same CORS headers on its own answers; the fake one does not,
 * so a small front adds them to its answers, exactly as the homeserver would. The gateway's own
 * answers (login, refresh, every error) are never touched by it.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Page } from "playwright-core";
import t, { type Test } from "tap";
import { hasChromium, launchChromium, NO_CHROMIUM, BROWSER_WAIT_MS as WAIT_MS } from "../helpers/chromium.js";
import { type FakeHomeserver, startFakeHomeserver } from "../helpers/fake-homeserver.js";
import { SERVER_NAME, startGateway, type TestGateway } from "../helpers/gateway.js";

const WHOAMI = "/_matrix/client/v3/account/whoami";

/** What a homeserver sends on every answer (Matrix spec, "Web Browser Clients"). */
const HOMESERVER_CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization, Date",
};

/** What the page's JavaScript could read of an answer (a CORS failure would throw instead). */
interface Result {
  status: number;
  body: any;
}

declare global {
  interface Window {
    results: Record<string, Result>;
    failure: string | undefined;
    done: boolean;
    call(name: string, path: string, init?: RequestInit): Promise<any>;
  }
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * The fake homeserver behind a front that adds a homeserver's CORS headers to its answers; `bareUrl`
 * is the fake homeserver itself, without CORS headers.
 */
async function homeserverWithCors(t: Test): Promise<{ homeserver: FakeHomeserver; bareUrl: string }> {
  const inner = await startFakeHomeserver(SERVER_NAME);
  inner.addUser("alice", "wonderland");
  const front = http.createServer((req, res) => {
    const upstream = http.request(
      { host: "127.0.0.1", port: inner.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...HOMESERVER_CORS });
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  const port = await listen(front);
  t.teardown(async () => {
    await closeServer(front);
    await inner.close();
  });
  return { homeserver: { ...inner, url: `http://127.0.0.1:${port}`, port }, bareUrl: inner.url };
}

/**
 * The web client: a page whose script logs in, calls whoami, refreshes and calls whoami again, with
 * fetch() from its own origin. `window.call` stays available for the test to make further calls.
 */
function clientPage(gatewayUrl: string): string {
  const script = `
const GATEWAY = ${JSON.stringify(gatewayUrl)};
window.results = {};
window.done = false;
window.call = async (name, path, init) => {
  const response = await fetch(GATEWAY + path, init);
  let body = null;
  try { body = await response.json(); } catch (e) { body = "unreadable: " + e; }
  window.results[name] = { status: response.status, body };
  document.getElementById("out").textContent = JSON.stringify(window.results);
  return body;
};
const json = (body, token) => {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  return { method: "POST", headers, body: JSON.stringify(body) };
};
const bearer = (token) => ({ headers: { Authorization: "Bearer " + token } });
(async () => {
  try {
    await call("flows", "/_matrix/client/v3/login");
    const login = await call("login", "/_matrix/client/v3/login", json({
      type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wonderland", refresh_token: true,
    }));
    await call("whoami", "${WHOAMI}", bearer(login.access_token));
    // Clients send their (expiring) access token along with the refresh: the gateway ignores it.
    const refreshed = await call("refresh", "/_matrix/client/v1/refresh", json({ refresh_token: login.refresh_token }, login.access_token));
    await call("whoamiAfterRefresh", "${WHOAMI}", bearer(refreshed.access_token));
    await call("badToken", "${WHOAMI}", bearer("not-a-valid-token"));
  } catch (error) {
    window.failure = String(error);
  }
  window.done = true;
})();`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>web client</title></head>
<body><pre id="out"></pre><script>${script}</script></body></html>`;
}

/** Serves the page from its own origin (another port on 127.0.0.1 is another origin). */
async function startPageServer(t: Test, html: string): Promise<string> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(html) });
    res.end(html);
  });
  const port = await listen(server);
  t.teardown(() => closeServer(server));
  return `http://127.0.0.1:${port}`;
}

interface Seen {
  method: string;
  path: string;
  origin?: string;
  authorization?: string;
  acrMethod?: string;
  acrHeaders?: string;
  status?: number;
}

/** Records what reached the gateway (method, path, a few headers) and the status it answered. */
function recordGatewayRequests(gw: TestGateway): Seen[] {
  const seen: Seen[] = [];
  gw.gateway.server.prependListener("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const entry: Seen = {
      method: req.method ?? "",
      path: (req.url ?? "").split("?")[0] ?? "",
      origin: req.headers.origin,
      authorization: req.headers.authorization,
      acrMethod: req.headers["access-control-request-method"],
      acrHeaders: req.headers["access-control-request-headers"],
    };
    seen.push(entry);
    res.once("finish", () => {
      entry.status = res.statusCode;
    });
  });
  return seen;
}

async function results(page: Page) {
  return page.evaluate(() => ({ results: window.results, failure: window.failure }));
}

if (!hasChromium()) {
  t.plan(0, NO_CHROMIUM);
} else {
  t.test("a web client on another origin logs in, calls, refreshes and reads errors", { timeout: 4 * WAIT_MS }, async (t) => {
    const { homeserver, bareUrl } = await homeserverWithCors(t);
    const gw = await startGateway(t, { homeserver });
    const seen = recordGatewayRequests(gw);
    const pageOrigin = await startPageServer(t, clientPage(gw.url));
    t.not(new URL(pageOrigin).port, new URL(gw.url).port, "page and gateway are different origins");

    const browser = await launchChromium(t);
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.goto(`${pageOrigin}/`, { timeout: WAIT_MS });
    await page.waitForFunction(() => window.done === true, null, { timeout: WAIT_MS });

    const { results: r, failure } = await results(page);
    t.equal(failure, undefined, "the page's script ran without a network (CORS) error");
    // Every answer below was readable from JS, which the browser only allows when it carries
    // Access-Control-Allow-Origin (the header itself is not exposed to scripts).
    t.same(r.flows, { status: 200, body: { flows: [{ type: "m.login.password" }] } });
    t.match(r.login, {
      status: 200,
      body: {
        user_id: "@alice:example.org",
        access_token: String,
        refresh_token: String,
        expires_in_ms: 300_000,
        home_server: "example.org",
      },
    });
    t.match(r.whoami, { status: 200, body: { user_id: "@alice:example.org", device_id: r.login?.body.device_id } });
    t.match(r.refresh, { status: 200, body: { access_token: String, refresh_token: String, expires_in_ms: 300_000 } });
    t.not(r.refresh?.body.access_token, r.login?.body.access_token, "refresh issued a new access token");
    t.not(r.refresh?.body.refresh_token, r.login?.body.refresh_token, "and a new refresh token");
    t.match(r.whoamiAfterRefresh, { status: 200, body: { user_id: "@alice:example.org", device_id: r.login?.body.device_id } });
    // A gateway error must be readable from JS too: without CORS headers the browser would hide it
    // behind an opaque network error and a client could not tell "log in again" from "offline".
    t.same(r.badToken, {
      status: 401,
      body: { errcode: "M_UNKNOWN_TOKEN", error: r.badToken?.body.error, soft_logout: false },
    });
    t.type(r.badToken?.body.error, "string");

    // The DOM shows the same results (what a user of the page would see).
    const shown = JSON.parse((await page.textContent("#out")) ?? "{}");
    t.same(shown, r, "the page rendered the results");

    // The browser preflighted each non-simple request (Chromium caches a preflight for 5 s, so
    // repeated calls to one URL may share one), carrying no token; the gateway answered 200.
    const preflights = seen.filter((s) => s.method === "OPTIONS");
    const distinct = [...new Set(preflights.map((p) => JSON.stringify([p.path, p.acrMethod, p.acrHeaders])))].map((p) => JSON.parse(p));
    t.same(
      distinct,
      [
        ["/_matrix/client/v3/login", "POST", "content-type"],
        [WHOAMI, "GET", "authorization"],
        ["/_matrix/client/v1/refresh", "POST", "authorization,content-type"],
      ],
      "login, whoami and refresh were preflighted",
    );
    t.same(
      preflights.map((p) => [p.status, p.authorization]),
      preflights.map(() => [204, undefined]),
      "every preflight carried no token and got 204",
    );
    t.ok(
      seen.every((s) => s.origin === pageOrigin),
      "every request came from the page's origin",
    );

    // Expiry is readable as well: the soft-logout flag reaches the page, so a web client knows to refresh.
    gw.clock.advance(6 * 60_000); // past access_ttl (5m) and the clock_skew tolerance
    await page.evaluate(
      (path) => window.call("expired", path, { headers: { Authorization: `Bearer ${window.results.refresh?.body.access_token}` } }),
      WHOAMI,
    );
    const { results: after } = await results(page);
    t.same(after.expired, {
      status: 401,
      body: { errcode: "M_UNKNOWN_TOKEN", error: after.expired?.body.error, soft_logout: true },
    });

    // Control: this browser does enforce CORS. The fake homeserver itself sends no CORS headers,
    // and a fetch() to it from the page fails as a network error instead of returning its answer.
    const bare = await page.evaluate(async (url) => {
      try {
        const response = await fetch(url);
        return `readable: ${response.status}`;
      } catch (error) {
        return String(error);
      }
    }, `${bareUrl}/_matrix/client/versions`);
    t.equal(bare, "TypeError: Failed to fetch", "a cross-origin answer without CORS headers is hidden from the page");

    // And the homeserver never saw a JWT: only its own credential.
    const upstream = JSON.stringify(gw.homeserver.received);
    t.notOk(upstream.includes(r.login?.body.access_token), "the homeserver never saw the login JWT");
    t.notOk(upstream.includes(r.refresh?.body.access_token), "nor the refreshed one");
  });
}
