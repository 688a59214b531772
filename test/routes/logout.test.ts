/**
 * `POST PREFIX/logout` ends one session, `POST PREFIX/logout/all` every session of the user; the
 * matching upstream sessions are logged out with their own credential. Logout accepts an expired
 * access token (as Synapse does), so a client can always end its session.
 */
import t, { type Test } from "tap";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";
import {
  expectError,
  expectOwnHeaders,
  expectRefused,
  expectSessionRevoked,
  PREFIXES,
  type Reply,
  refresh,
  SEED_PREFIX,
  upstreamTokenOf,
  whoami,
} from "../helpers/session-api.js";

const ACCESS_TTL_MS = 5 * 60_000;
const CLOCK_SKEW_MS = 5_000;

interface LoggedIn {
  accessToken: string;
  refreshToken: string;
  upstreamToken: string;
}

async function logIn(gw: TestGateway, user = "alice", password = "wonderland"): Promise<LoggedIn> {
  const login = await gw.login({ user, password });
  return {
    accessToken: login.access_token,
    refreshToken: login.refresh_token,
    upstreamToken: upstreamTokenOf(gw.homeserver, login.device_id),
  };
}

/** Logs out the way each generation carries its token: the seed in the query string, r0/v3 as a Bearer header. */
function logOut(gw: TestGateway, prefix: string, accessToken: string | undefined, endpoint: "/logout" | "/logout/all" = "/logout") {
  const inQuery = prefix === SEED_PREFIX && accessToken !== undefined;
  const query = inQuery ? `?access_token=${encodeURIComponent(accessToken)}` : "";
  const headers = !inQuery && accessToken !== undefined ? bearer(accessToken) : {};
  return gw.request(`${prefix}${endpoint}${query}`, {
    method: "POST",
    body: "{}",
    headers: { "Content-Type": "application/json", ...headers },
  });
}

function expectLoggedOut(t: Test, reply: Reply): void {
  t.equal(reply.status, 200);
  t.same(reply.body, {});
  expectOwnHeaders(t, reply);
}

/** The session still works: its access token is accepted and its refresh token refreshes. */
async function expectAlive(t: Test, gw: TestGateway, session: LoggedIn): Promise<void> {
  t.equal((await whoami(gw, session.accessToken)).status, 200, "access token still works");
  const next = await refresh(gw, session.refreshToken);
  t.equal(next.status, 200, "refresh token still works");
  session.accessToken = next.body.access_token;
  session.refreshToken = next.body.refresh_token;
}

/** The session is over: its access token gets 401 and its refresh token is refused. */
async function expectEnded(t: Test, gw: TestGateway, session: LoggedIn): Promise<void> {
  await expectSessionRevoked(t, gw, session.accessToken);
  expectRefused(t, await refresh(gw, session.refreshToken));
}

for (const prefix of PREFIXES) {
  t.test(prefix, async (t) => {
    t.test("logout ends this session only", async (t) => {
      const gw = await startGateway(t);
      const [mine, aliceElsewhere, bob] = [await logIn(gw), await logIn(gw), await logIn(gw, "bob", "builder")];
      expectLoggedOut(t, await logOut(gw, prefix, mine.accessToken));

      await expectEnded(t, gw, mine);
      await expectAlive(t, gw, aliceElsewhere);
      await expectAlive(t, gw, bob);
      // A refresh token of a logged-out session is simply unknown: no theft, no second upstream logout.
      t.same(gw.homeserver.logouts, [{ path: "/logout", token: mine.upstreamToken }], "upstream /logout with this session's token");
      t.notOk(gw.homeserver.tokens.has(mine.upstreamToken), "the upstream session is gone");
      t.ok(gw.homeserver.tokens.has(aliceElsewhere.upstreamToken), "the other upstream session is not");
    });

    t.test("logout/all ends every session of the user and no one else's", async (t) => {
      const gw = await startGateway(t);
      const [mine, aliceElsewhere, bob] = [await logIn(gw), await logIn(gw), await logIn(gw, "bob", "builder")];
      expectLoggedOut(t, await logOut(gw, prefix, mine.accessToken, "/logout/all"));

      await expectEnded(t, gw, mine);
      await expectEnded(t, gw, aliceElsewhere);
      await expectAlive(t, gw, bob);
      t.same(gw.homeserver.logouts, [{ path: "/logout/all", token: mine.upstreamToken }], "upstream /logout/all");
      t.ok(gw.homeserver.tokens.has(bob.upstreamToken), "bob's upstream session is untouched");
    });

    t.test("an expired access token may still log out", async (t) => {
      const gw = await startGateway(t);
      const session = await logIn(gw);
      gw.clock.advance(ACCESS_TTL_MS + CLOCK_SKEW_MS + 1_000);
      expectError(t, await whoami(gw, session.accessToken), 401, "M_UNKNOWN_TOKEN", { soft_logout: true }, "Access token has expired");

      expectLoggedOut(t, await logOut(gw, prefix, session.accessToken));
      expectRefused(t, await refresh(gw, session.refreshToken));
      t.same(gw.homeserver.logouts, [{ path: "/logout", token: session.upstreamToken }]);
    });

    t.test("refusals", async (t) => {
      const gw = await startGateway(t);
      const session = await logIn(gw);
      for (const endpoint of ["/logout", "/logout/all"] as const) {
        expectError(t, await logOut(gw, prefix, undefined, endpoint), 401, "M_MISSING_TOKEN", {}, undefined);
        expectError(t, await logOut(gw, prefix, "not-a-token", endpoint), 401, "M_UNKNOWN_TOKEN", { soft_logout: false });
      }
      const both = await gw.request(`${prefix}/logout?access_token=${session.accessToken}`, {
        method: "POST",
        headers: bearer(session.accessToken),
      });
      expectError(t, both, 401, "M_MISSING_TOKEN");
      t.equal(gw.homeserver.logouts.length, 0, "nothing was logged out");
      await expectAlive(t, gw, session);

      // Logging out twice: the second time the session is unknown.
      expectLoggedOut(t, await logOut(gw, prefix, session.accessToken));
      expectError(t, await logOut(gw, prefix, session.accessToken), 401, "M_UNKNOWN_TOKEN", { soft_logout: false });
      t.equal(gw.homeserver.logouts.length, 1, "one upstream logout");
    });
  });
}
