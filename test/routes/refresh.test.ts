/**
 * Token refresh: the seed's `POST api/v1/tokenrefresh` and the spec-v1.3 `POST v1|v3/refresh`, and
 * the contract's rotation rules (single use, retry grace, theft revokes the session, idle and
 * absolute limits). Time moves with the ManualClock only.
 */
import t, { type Test } from "tap";
import { issueRefreshToken, newFamily, parseRefreshToken } from "../../src/auth/refresh-token.js";
import { secureRandom } from "../../src/clock.js";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";
import {
  decodeJwt,
  eventually,
  expectError,
  expectOwnHeaders,
  expectRefused,
  expectSessionRevoked,
  postJson,
  REFRESH_FORMS,
  type Reply,
  refresh,
  upstreamTokenOf,
  whoami,
} from "../helpers/session-api.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const GRACE_MS = 30 * SECOND;
const ACCESS_TTL_MS = 5 * MINUTE;

/** The helper's defaults written out, so each test states the lifetimes it relies on. */
const tokens = ({ access = "5m", idle = "1d", maxAge = "7d", grace = "30s" } = {}) =>
  `tokens: {access_ttl: ${access}, refresh_ttl: ${idle}, session_max_age: ${maxAge}, refresh_reuse_grace: ${grace}}`;

interface Pair {
  access_token: string;
  refresh_token: string;
  expires_in_ms: number;
}

/** Refreshes and asserts success: the exact answer shape, a working access token. */
async function expectRefreshed(t: Test, reply: Reply): Promise<Pair> {
  t.equal(reply.status, 200, "refresh succeeded");
  t.same(Object.keys(reply.body).sort(), ["access_token", "expires_in_ms", "refresh_token"], "exactly the contract's fields");
  t.match(reply.body.refresh_token, /^magr_[A-Za-z0-9_-]{64}$/);
  t.type(reply.body.expires_in_ms, "number");
  expectOwnHeaders(t, reply);
  return reply.body as Pair;
}

async function expectAccessWorks(t: Test, gw: TestGateway, accessToken: string): Promise<void> {
  const me = await whoami(gw, accessToken);
  t.equal(me.status, 200, "the access token works");
  t.equal(me.body.user_id, "@alice:example.org");
}

/**
 * Asserts theft handling: the whole session is gone (every access token of the login gets 401, the
 * newest refresh token is refused) and the upstream session was logged out with its own credential.
 * The upstream logout is fire-and-forget, hence the short poll.
 */
async function expectSessionStolen(t: Test, gw: TestGateway, upstreamToken: string, accessTokens: string[], refreshTokens: string[]) {
  for (const access of accessTokens) await expectSessionRevoked(t, gw, access);
  for (const token of refreshTokens) expectRefused(t, await refresh(gw, token));
  const seen = await eventually(() => gw.homeserver.logouts.some((l) => l.path === "/logout" && l.token === upstreamToken));
  t.ok(seen, "the homeserver saw POST /logout with this session's upstream token");
  t.notOk(gw.homeserver.tokens.has(upstreamToken), "the upstream session is gone");
}

/** Logs alice in with refresh tokens; returns the answer and the session's upstream credential. */
async function loginAlice(gw: TestGateway) {
  const login = await gw.login();
  return { login: login as Pair & { device_id: string }, upstreamToken: upstreamTokenOf(gw.homeserver, login.device_id) };
}

for (const form of REFRESH_FORMS) {
  t.test(`${form.name} (${form.path})`, async (t) => {
    t.test("success: a new pair whose access token works", async (t) => {
      const gw = await startGateway(t, { tokens: tokens() });
      const { login } = await loginAlice(gw);
      const pair = await expectRefreshed(t, await refresh(gw, login.refresh_token, form));
      t.equal(pair.expires_in_ms, ACCESS_TTL_MS);
      t.not(pair.refresh_token, login.refresh_token, "a new refresh token");
      t.not(pair.access_token, login.access_token, "a new access token");
      await expectAccessWorks(t, gw, pair.access_token);
      // The chain goes on with the new token.
      await expectRefreshed(t, await refresh(gw, pair.refresh_token, form));
    });

    t.test("malformed requests → 400", async (t) => {
      const gw = await startGateway(t, { tokens: tokens() });
      const rows: { name: string; body: unknown; errcode: string }[] = [
        { name: "not JSON", body: "refresh_token=abc", errcode: "M_NOT_JSON" },
        { name: "empty body", body: "", errcode: "M_NOT_JSON" },
        { name: "an array", body: [], errcode: "M_BAD_JSON" },
        { name: "JSON null", body: "null", errcode: "M_BAD_JSON" },
        { name: "refresh_token missing", body: {}, errcode: "M_MISSING_PARAM" },
        { name: "refresh_token is a number", body: { refresh_token: 123 }, errcode: "M_BAD_JSON" },
        { name: "refresh_token is null", body: { refresh_token: null }, errcode: "M_BAD_JSON" },
        { name: "refresh_token is an object", body: { refresh_token: { token: "x" } }, errcode: "M_BAD_JSON" },
      ];
      for (const row of rows) {
        t.test(row.name, async (t) => expectError(t, await postJson(gw, form.path, row.body), 400, row.errcode));
      }
    });

    t.test("an access token sent along is ignored, even an expired or bogus one", async (t) => {
      const gw = await startGateway(t, { tokens: tokens() });
      const { login } = await loginAlice(gw);
      gw.clock.advance(ACCESS_TTL_MS + 10 * SECOND); // past access_ttl and the 5s clock skew
      expectError(t, await whoami(gw, login.access_token), 401, "M_UNKNOWN_TOKEN", { soft_logout: true }, "Access token has expired");

      const withExpiredBearer = await refresh(gw, login.refresh_token, form, bearer(login.access_token));
      const first = await expectRefreshed(t, withExpiredBearer);
      const withBogusBearer = await refresh(gw, first.refresh_token, form, bearer("not-a-token"));
      const second = await expectRefreshed(t, withBogusBearer);
      // The seed form carries tokens in the query string.
      const withQueryToken = await gw.request(`${form.path}?access_token=${encodeURIComponent(login.access_token)}`, {
        method: "POST",
        body: JSON.stringify({ refresh_token: second.refresh_token }),
      });
      await expectAccessWorks(t, gw, (await expectRefreshed(t, withQueryToken)).access_token);
    });

    t.test("bad refresh tokens are refused without revoking anything", async (t) => {
      const gw = await startGateway(t, { tokens: tokens() });
      const { login, upstreamToken } = await loginAlice(gw);
      const unknownFamily = issueRefreshToken(newFamily(secureRandom), secureRandom).token;
      const rows = [
        { name: "garbage", token: "garbage" },
        { name: "empty", token: "" },
        { name: "prefix only", token: "magr_" },
        { name: "one character short", token: login.refresh_token.slice(0, -1) },
        { name: "one character too many", token: `${login.refresh_token}A` },
        { name: "characters outside base64url", token: `magr_${"!".repeat(64)}` },
        { name: "an access token", token: login.access_token },
        { name: "oversized (60k characters)", token: `magr_${"A".repeat(60_000)}` },
        { name: "well-formed, unknown family", token: unknownFamily },
      ];
      for (const row of rows) t.test(row.name, async (t) => expectRefused(t, await refresh(gw, row.token, form), form));
      await t.test("the session is untouched", async (t) => {
        t.equal(gw.homeserver.logouts.length, 0, "no upstream logout");
        t.ok(gw.homeserver.tokens.has(upstreamToken));
        await expectAccessWorks(t, gw, login.access_token);
        await expectRefreshed(t, await refresh(gw, login.refresh_token, form));
      });
    });

    t.test("theft is refused in this form's words", async (t) => {
      const gw = await startGateway(t, { tokens: tokens({ grace: "0s" }) });
      const { login, upstreamToken } = await loginAlice(gw);
      const next = await expectRefreshed(t, await refresh(gw, login.refresh_token, form));
      expectRefused(t, await refresh(gw, login.refresh_token, form), form);
      await expectSessionStolen(t, gw, upstreamToken, [login.access_token, next.access_token], [next.refresh_token]);
    });
  });
}

// The rotation rules, on the spec v3 form (the forms share one implementation; see above for their refusals).
t.test("rotation rules", async (t) => {
  t.test("each refresh returns a new token and uses up the presented one", async (t) => {
    const gw = await startGateway(t, { tokens: tokens() });
    const { login } = await loginAlice(gw);
    const seen = new Set([login.refresh_token]);
    let current = login.refresh_token;
    for (let i = 0; i < 3; i++) {
      const pair = await expectRefreshed(t, await refresh(gw, current));
      t.notOk(seen.has(pair.refresh_token), "never seen before");
      seen.add(pair.refresh_token);
      t.equal(parseRefreshToken(pair.refresh_token)?.family, parseRefreshToken(login.refresh_token)?.family, "same session family");
      await expectAccessWorks(t, gw, pair.access_token);
      current = pair.refresh_token;
    }
  });

  t.test("a retry inside the grace while the successor is unused gets a fresh pair; once one is used the other dies quietly", async (t) => {
    const gw = await startGateway(t, { tokens: tokens() });
    const { login, upstreamToken } = await loginAlice(gw);
    const lost = await expectRefreshed(t, await refresh(gw, login.refresh_token)); // the response the client never got
    gw.clock.advance(GRACE_MS - SECOND);
    const retried = await expectRefreshed(t, await refresh(gw, login.refresh_token));
    t.not(retried.refresh_token, lost.refresh_token, "a fresh refresh token");
    await expectAccessWorks(t, gw, retried.access_token);
    // The chain continues from the retry.
    const continued = await expectRefreshed(t, await refresh(gw, retried.refresh_token));
    // The successor the retry was issued beside is its sibling: refused, without revoking anything.
    expectRefused(t, await refresh(gw, lost.refresh_token));
    await expectAccessWorks(t, gw, continued.access_token);
    t.equal(gw.homeserver.logouts.length, 0, "no upstream logout");
    // The original token's line has moved on: presenting it now is theft.
    expectRefused(t, await refresh(gw, login.refresh_token));
    await expectSessionStolen(t, gw, upstreamToken, [continued.access_token, retried.access_token], [continued.refresh_token]);
  });

  t.test("reuse at the end of the grace is theft", async (t) => {
    const gw = await startGateway(t, { tokens: tokens() });
    const { login, upstreamToken } = await loginAlice(gw);
    const next = await expectRefreshed(t, await refresh(gw, login.refresh_token));
    gw.clock.advance(GRACE_MS);
    expectRefused(t, await refresh(gw, login.refresh_token));
    await expectSessionStolen(t, gw, upstreamToken, [login.access_token, next.access_token], [next.refresh_token]);
  });

  t.test("reuse after the successor was used is theft, even inside the grace", async (t) => {
    const gw = await startGateway(t, { tokens: tokens() });
    const { login, upstreamToken } = await loginAlice(gw);
    const second = await expectRefreshed(t, await refresh(gw, login.refresh_token));
    const third = await expectRefreshed(t, await refresh(gw, second.refresh_token));
    expectRefused(t, await refresh(gw, login.refresh_token));
    await expectSessionStolen(t, gw, upstreamToken, [third.access_token], [third.refresh_token]);
  });

  t.test("with refresh_reuse_grace 0s any reuse is theft", async (t) => {
    const gw = await startGateway(t, { tokens: tokens({ grace: "0s" }) });
    const { login, upstreamToken } = await loginAlice(gw);
    const next = await expectRefreshed(t, await refresh(gw, login.refresh_token));
    expectRefused(t, await refresh(gw, login.refresh_token));
    await expectSessionStolen(t, gw, upstreamToken, [next.access_token], [next.refresh_token]);
  });

  t.test("theft does not touch the user's other sessions", async (t) => {
    const gw = await startGateway(t, { tokens: tokens({ grace: "0s" }) });
    const stolen = await loginAlice(gw);
    const other = await loginAlice(gw);
    await expectRefreshed(t, await refresh(gw, stolen.login.refresh_token));
    expectRefused(t, await refresh(gw, stolen.login.refresh_token));
    t.ok(await eventually(() => gw.homeserver.logouts.length === 1), "one upstream logout");
    t.same(gw.homeserver.logouts, [{ path: "/logout", token: stolen.upstreamToken }]);
    await expectAccessWorks(t, gw, other.login.access_token);
    await expectRefreshed(t, await refresh(gw, other.login.refresh_token));
  });

  t.test("two concurrent refreshes with one token inside the grace both succeed", async (t) => {
    const gw = await startGateway(t, { tokens: tokens() });
    const { login } = await loginAlice(gw);
    const replies = await Promise.all([refresh(gw, login.refresh_token), refresh(gw, login.refresh_token)]);
    const [a, b] = [await expectRefreshed(t, replies[0] as Reply), await expectRefreshed(t, replies[1] as Reply)];
    t.not(a.refresh_token, b.refresh_token);
    await expectAccessWorks(t, gw, a.access_token);
    await expectAccessWorks(t, gw, b.access_token);
    t.equal(gw.homeserver.logouts.length, 0, "no theft");
  });

  t.test("two concurrent refreshes with one token and no grace: one wins, then the session is revoked", async (t) => {
    const gw = await startGateway(t, { tokens: tokens({ grace: "0s" }) });
    const { login, upstreamToken } = await loginAlice(gw);
    const replies = await Promise.all([refresh(gw, login.refresh_token), refresh(gw, login.refresh_token)]);
    t.same(replies.map((r) => r.status).sort(), [200, 401], "exactly one succeeds");
    const winner = replies.find((r) => r.status === 200) as Reply;
    const loser = replies.find((r) => r.status !== 200) as Reply;
    expectRefused(t, loser);
    await expectSessionStolen(t, gw, upstreamToken, [login.access_token, winner.body.access_token], [winner.body.refresh_token]);
  });

  t.test("a refresh token unused for refresh_ttl is dead", async (t) => {
    const gw = await startGateway(t, { tokens: tokens({ idle: "1h" }) });
    const { login, upstreamToken } = await loginAlice(gw);
    gw.clock.advance(HOUR - 1);
    const next = await expectRefreshed(t, await refresh(gw, login.refresh_token)); // just inside: resets the idle limit
    gw.clock.advance(HOUR - 1);
    const last = await expectRefreshed(t, await refresh(gw, next.refresh_token));
    gw.clock.advance(HOUR);
    expectRefused(t, await refresh(gw, last.refresh_token));
    // Expiry is not theft: nobody is logged out upstream.
    t.equal(gw.homeserver.logouts.length, 0);
    t.ok(gw.homeserver.tokens.has(upstreamToken));
  });

  t.test("session_max_age ends the session however often it is refreshed", async (t) => {
    const gw = await startGateway(t, { tokens: tokens({ idle: "1h", maxAge: "12m" }) });
    const loginAt = gw.clock.now();
    const sessionEnd = loginAt + 12 * MINUTE;
    const { login } = await loginAlice(gw);
    const accessTokens = [login.access_token];
    let current = login.refresh_token;
    for (const minute of [4, 8, 11]) {
      gw.clock.advance(loginAt + minute * MINUTE - gw.clock.now());
      const pair = await expectRefreshed(t, await refresh(gw, current));
      t.equal(pair.expires_in_ms, Math.min(ACCESS_TTL_MS, sessionEnd - gw.clock.now()), `at ${minute}m: capped by the session end`);
      accessTokens.push(pair.access_token);
      current = pair.refresh_token;
    }
    for (const access of accessTokens) {
      t.ok((decodeJwt(access).payload.exp as number) * 1000 <= sessionEnd, "access token exp never passes the session end");
    }
    gw.clock.advance(sessionEnd - gw.clock.now());
    expectRefused(t, await refresh(gw, current));
  });
});
