/**
 * Contract, "State and scale": no token, password or upstream credential is ever written to a log
 * (security.md: "access tokens in query strings never reach a log line"). A representative flow —
 * logins good and bad, refresh, a retry, a theft, tokens in query strings under every spelling of
 * the parameter name the gateway itself recognises, refused and malformed requests, logout — runs
 * through a real gateway; then not one log line may contain anything secret that was used.
 *
 * Narrower tests of the same promise: test/operations/request-log.test.ts "a token in the query
 * string never reaches the log", "no password, token or homeserver credential from login, refresh
 * and logout is logged".
 */
import t from "tap";
import { bearer, startGateway } from "../helpers/gateway.js";
import { ACCESS_TOKEN_NAMES, postJson, refresh, SEED_PREFIX, upstreamTokenOf } from "../helpers/session-api.js";

const V3 = "/_matrix/client/v3";
const WHOAMI = `${V3}/account/whoami`;

t.test("not one log line holds a token, refresh token, password or upstream token", async (t) => {
  const gw = await startGateway(t);
  const secrets = new Set<string>(["wonderland", "builder"]);
  /** Records a token and the parts an attacker could use or recognise on its own (JWT signature, refresh secret). */
  const secret = (token: string) => {
    secrets.add(token);
    const parts = token.split(".");
    if (parts.length === 3) secrets.add(parts[2] as string);
    if (token.startsWith("magr_")) secrets.add(token.slice(5));
    return token;
  };
  const expectStatus = async (name: string, reply: Promise<{ status: number }>, status: number) =>
    t.equal((await reply).status, status, name);

  // Logins that fail: a wrong password, in both request forms; a password in a body that is not JSON.
  const wrong = ["wrong-password-4417", "wrong-password-9920"];
  for (const p of wrong) secrets.add(p);
  await expectStatus("wrong password", postJson(gw, `${V3}/login`, { type: "m.login.password", user: "alice", password: wrong[0] }), 403);
  await expectStatus(
    "wrong password, modern form",
    postJson(gw, `${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: "bob" }, password: wrong[1] }),
    403,
  );
  await expectStatus("a body that is not JSON", postJson(gw, `${V3}/login`, `{"password": "${wrong[0]}"`), 400);

  // Logins that work: the seed prefix and v3 for alice, v3 for bob.
  const seed = await gw.login({ prefix: SEED_PREFIX });
  const alice = await gw.login();
  const bob = await gw.login({ user: "bob", password: "builder" });
  for (const login of [seed, alice, bob]) {
    secret(login.access_token);
    secret(login.refresh_token);
    secret(upstreamTokenOf(gw.homeserver, login.device_id));
  }

  // Refresh, a retry inside the grace (a lost response), then theft after it.
  const first = await refresh(gw, alice.refresh_token);
  t.equal(first.status, 200);
  secret(first.body.access_token);
  secret(first.body.refresh_token);
  const retry = await refresh(gw, alice.refresh_token);
  t.equal(retry.status, 200, "retry inside the grace");
  secret(retry.body.access_token);
  secret(retry.body.refresh_token);
  gw.clock.advance(31_000);
  await expectStatus("theft", refresh(gw, alice.refresh_token), 401);
  await expectStatus("an unknown refresh token", refresh(gw, secret("magr_this-refresh-token-is-unknown-but-still-secret")), 401);
  await expectStatus("the seed form", postJson(gw, `${SEED_PREFIX}/tokenrefresh`, { refresh_token: seed.refresh_token }), 200);

  // Access tokens in the query string, under every name the gateway reads as access_token.
  const token = bob.access_token as string;
  for (const name of ACCESS_TOKEN_NAMES) {
    await expectStatus(`?${name}=valid`, gw.request(`${WHOAMI}?a=1&${name}=${token}&b=2`), 200);
    const bogus = secret(`bogus-token-sent-as-${name.replace(/%/g, "pct")}`);
    await expectStatus(`?${name}=bogus`, gw.request(`${WHOAMI}?${name}=${bogus}`), 401);
    await expectStatus(`?${name}= and a header`, gw.request(`${WHOAMI}?${name}=${token}`, { headers: bearer(token) }), 401);
    await expectStatus(`?${name}= twice`, gw.request(`${WHOAMI}?${name}=${token}&access_token=${token}`), 401);
    await expectStatus(`?${name}= on a path trick`, gw.request(`${WHOAMI};x=1?${name}=${token}`), 400);
    await expectStatus(`?${name}= outside the namespaces`, gw.request(`/nowhere?${name}=${token}`), 404);
    await expectStatus(`?${name}= on a public endpoint`, gw.request(`/_matrix/client/versions?${name}=${token}`), 200);
  }
  await expectStatus("a token in a header", gw.request(WHOAMI, { headers: bearer(token) }), 200);
  await expectStatus("a bogus token in a header", gw.request(WHOAMI, { headers: bearer(secret("bogus-header-token-7731")) }), 401);
  await expectStatus(
    "Basic credentials",
    gw.request(WHOAMI, { headers: { Authorization: `Basic ${secret(Buffer.from("alice:wonderland").toString("base64"))}` } }),
    401,
  );

  // Expired tokens are refused (and still must not be logged), then logout and logout/all.
  gw.clock.advance(10 * 60_000);
  await expectStatus("an expired token in the query", gw.request(`${WHOAMI}?access_token=${first.body.access_token}`), 401);
  await expectStatus(
    "logout with an expired token in the query",
    gw.request(`${SEED_PREFIX}/logout?access_token=${seed.access_token}`, { method: "POST" }),
    200,
  );
  await expectStatus("logout/all", gw.request(`${V3}/logout/all`, { method: "POST", headers: bearer(bob.access_token) }), 200);

  // Every request has written its line (the line is written when the response closes).
  for (let i = 0; i < 100 && gw.logs.filter((l) => l.event === "request").length < 60; i++) await new Promise((r) => setTimeout(r, 10));
  const lines = gw.logs.map((line) => JSON.stringify(line));
  t.ok(lines.length >= 60, `${lines.length} log lines to search`);
  t.ok(
    gw.logs.some((l) => l.event === "refresh_token_reuse") && gw.logs.some((l) => l.event === "login_failed"),
    "the theft and the failed logins were logged",
  );
  t.ok(
    lines.some((l) => l.includes("[redacted]")),
    "refused query tokens are logged as [redacted]",
  );

  const leaks: string[] = [];
  for (const s of secrets) {
    t.ok(s.length >= 7, `a real secret to look for: ${s.slice(0, 6)}…`);
    for (const line of lines) if (line.includes(s)) leaks.push(`${s.slice(0, 12)}… in ${line.slice(0, 200)}`);
  }
  t.same(leaks, [], `none of ${secrets.size} secrets in any of ${lines.length} lines`);
});
