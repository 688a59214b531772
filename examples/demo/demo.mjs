#!/usr/bin/env node
/**
 * `npm run demo`: a walkthrough of what the gateway does, in a few seconds, on 127.0.0.1 only.
 *
 * It starts a tiny demo homeserver (./homeserver.mjs) and the gateway in this process (the compiled
 * code in dist/, memory store), then plays a client: log in, use the access token, let it expire,
 * refresh, and finally replay an old refresh token the way a thief would — which ends the session.
 *
 * Time is a ManualClock the demo moves forward, so "five minutes later" takes no time at all.
 * Nothing here is needed to run the gateway; read it as a commented example of the HTTP exchanges.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import { Writable } from "node:stream";
import { startDemoHomeserver } from "./homeserver.mjs";

const DIST = new URL("../../dist/src/", import.meta.url);
if (!fs.existsSync(new URL("gateway.js", DIST))) {
  console.error("demo: dist/ is missing — run `npm run build` (or `npm ci`, which builds) first.");
  process.exit(1);
}
const { createGateway } = await import(new URL("gateway.js", DIST).href);
const { parseConfig } = await import(new URL("config/load.js", DIST).href);
const { ManualClock } = await import(new URL("clock.js", DIST).href);
const { createLogger } = await import(new URL("observability/log.js", DIST).href);

// A bound on the whole demo: it never hangs.
setTimeout(() => {
  console.error("demo: did not finish within 15 s");
  process.exit(1);
}, 15_000).unref();

const ACCESS_TTL_MS = 5 * 60_000;
const GRACE_MS = 30_000;
/** `jwt.clock_skew` (default 5s): an expired token is still accepted this long (several instances' clocks differ). */
const CLOCK_SKEW_MS = 5_000;

// ---------------------------------------------------------------------------------------------------
// Output helpers: tokens are shown as short prefixes, passwords not at all.

// Head and tail: successive refresh tokens share their head (the family), successive JWTs their header.
const short = (value) => (typeof value === "string" && value.length > 24 ? `${value.slice(0, 9)}…${value.slice(-6)}` : value);

function printable(body) {
  if (body === null || typeof body !== "object") return body;
  const out = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === "password") out[key] = "********";
    else if (key === "access_token" || key === "refresh_token") out[key] = short(value);
    else out[key] = printable(value);
  }
  return out;
}

let stepNumber = 0;
function step(title) {
  stepNumber += 1;
  console.log(`\n${stepNumber}. ${title}`);
}
const note = (text) => console.log(`   ${text}`);

/** One HTTP exchange with the gateway, printed as `> request` / `< response`. */
async function exchange(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  console.log(`   > ${method} ${path}${token ? `   Authorization: Bearer ${short(token)}` : ""}`);
  if (body !== undefined) console.log(`     ${JSON.stringify(printable(body))}`);
  const response = await fetch(gatewayUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = await response.json();
  console.log(`   < ${response.status} ${JSON.stringify(printable(answer))}`);
  return { status: response.status, body: answer };
}

/** The demo stops (exit 1) when the gateway does not answer what the walkthrough says. */
function expect(reply, status, errcode) {
  if (reply.status !== status || (errcode !== undefined && reply.body.errcode !== errcode)) {
    console.error(`demo: expected ${status}${errcode ? ` ${errcode}` : ""}, got ${reply.status} ${JSON.stringify(reply.body)}`);
    process.exit(1);
  }
}

// ---------------------------------------------------------------------------------------------------
// The setup: a homeserver, and the gateway in front of it.

const homeserver = await startDemoHomeserver({ serverName: "example.org", users: { alice: "wonderland" } });
const clock = new ManualClock(Date.now());
const auditLines = [];
const logSink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of chunk.toString("utf8").split("\n")) if (line) auditLines.push(JSON.parse(line));
    done();
  },
});
const config = parseConfig(
  [
    "server_name: example.org",
    "listen: {host: 127.0.0.1, port: 0}", // any free port, loopback only
    `upstream: {url: "${homeserver.url}"}`,
    `jwt: {secret: "${crypto.randomBytes(32).toString("base64url")}"}`, // a fresh HS256 key for this run
    "tokens: {access_ttl: 5m, refresh_reuse_grace: 30s}",
    "store: {type: memory}",
    "log: {level: info, requests: false}",
  ].join("\n"),
  "demo.yaml",
);
const gateway = createGateway(config, { clock, logger: createLogger("info", logSink) });
const address = await gateway.listen();
const gatewayUrl = `http://127.0.0.1:${address.port}`;

console.log("matrix-auth-gateway demo");
console.log(`   homeserver (demo): ${homeserver.url}   user alice, password wonderland`);
console.log(`   gateway:           ${gatewayUrl}   access_ttl 5m, refresh_reuse_grace 30s, memory store`);
console.log("   The client below talks to the gateway only, as if it were the homeserver.");

// ---------------------------------------------------------------------------------------------------
// The walkthrough.

step("Log in through the gateway (v3, refresh_token: true)");
const login = await exchange("POST", "/_matrix/client/v3/login", {
  body: { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "wonderland", refresh_token: true },
});
expect(login, 200);
note("=> the gateway checked the password with the homeserver and kept the homeserver's token for itself;");
note(`   the client got a short-lived JWT access token (${login.body.expires_in_ms / 1000}s) and a single-use refresh token.`);

step("Use the access token: whoami through the gateway");
const whoami = await exchange("GET", "/_matrix/client/v3/account/whoami", { token: login.body.access_token });
expect(whoami, 200);
const upstreamSaw = (homeserver.seen.at(-1)?.authorization ?? "").replace(/^Bearer /, "");
note(`=> the homeserver saw "Authorization: Bearer ${short(upstreamSaw)}" — its own token, not the gateway's JWT.`);

step("Five minutes later: the access token has expired (soft_logout)");
clock.advance(ACCESS_TTL_MS + CLOCK_SKEW_MS + 1_000);
note("(the demo moves the gateway's clock 5 minutes and 6 seconds forward: access_ttl, plus the 5s jwt.clock_skew leeway)");
const expired = await exchange("GET", "/_matrix/client/v3/account/whoami", { token: login.body.access_token });
expect(expired, 401, "M_UNKNOWN_TOKEN");
note("=> soft_logout: true tells the client to refresh, not to log in again.");

step("Refresh: a new access token and a new refresh token");
const refreshed = await exchange("POST", "/_matrix/client/v3/refresh", { body: { refresh_token: login.body.refresh_token } });
expect(refreshed, 200);
note("=> the old refresh token is now used up; only the new one may be used next.");

step("whoami with the new access token");
expect(await exchange("GET", "/_matrix/client/v3/account/whoami", { token: refreshed.body.access_token }), 200);

step("Someone replays the OLD refresh token (a copy stolen earlier)");
clock.advance(GRACE_MS + 1_000);
note("(31 seconds later: within 30s it would count as a client retrying a lost response)");
const replay = await exchange("POST", "/_matrix/client/v3/refresh", { body: { refresh_token: login.body.refresh_token } });
expect(replay, 401, "M_UNKNOWN_TOKEN");
const reuse = auditLines.find((line) => line.event === "refresh_token_reuse");
if (!reuse) {
  console.error("demo: the gateway did not report the reuse");
  process.exit(1);
}
note("=> theft detected: a used refresh token came back, so the gateway cannot tell the thief from alice.");
note(`=> session revoked: every token of this login is dead (gateway log: event=${reuse.event}, user_id=${reuse.user_id}).`);

step("The new tokens are dead too");
expect(await exchange("GET", "/_matrix/client/v3/account/whoami", { token: refreshed.body.access_token }), 401, "M_UNKNOWN_TOKEN");
expect(
  await exchange("POST", "/_matrix/client/v3/refresh", { body: { refresh_token: refreshed.body.refresh_token } }),
  401,
  "M_UNKNOWN_TOKEN",
);
// The homeserver logout runs in the background of the refused refresh: give it a moment (bounded).
for (let i = 0; i < 50 && homeserver.sessionCount() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
note(
  `=> alice (and the thief) must log in again; the homeserver session was logged out too (sessions left: ${homeserver.sessionCount()}).`,
);

await gateway.close();
await homeserver.close();
console.log("\ndone.");
