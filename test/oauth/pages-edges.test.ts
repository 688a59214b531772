/** The pages' less common answers: a homeserver that fails or refuses, empty fields, an oversized form, an app's own scheme. */
import t, { type Test } from "tap";
import { MatrixError } from "../../src/http/errors.js";
import { createMemoryStore } from "../../src/store/memory.js";
import {
  alertText,
  authorizeQuery,
  Browser,
  inputValue,
  NATIVE_CLIENT,
  type PageReply,
  startOAuthGateway,
} from "../helpers/oauth-pages.js";

const AUTHORIZE = "/oauth2/authorize";

t.test("a homeserver that fails: the form again, 502; a deactivated account says so", async (t) => {
  let refusal = new MatrixError(502, "M_UNKNOWN", "homeserver unreachable");
  const gw = await startOAuthGateway(t, {
    deps: {
      credentials: async () => {
        throw refusal;
      },
    },
  });
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const fields = { request: inputValue(form.text, "request") as string, username: "alice", password: "wonderland" };
  const failed = await browser.post(AUTHORIZE, fields);
  t.equal(failed.status, 502);
  t.equal(alertText(failed.text), "The server could not check your password just now. Try again in a moment.");
  refusal = new MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated");
  const deactivated = await browser.post(AUTHORIZE, fields);
  t.equal(deactivated.status, 200);
  t.equal(alertText(deactivated.text), "This account has been deactivated.");
  refusal = new MatrixError(400, "M_INVALID_PARAM", "Bad device");
  const bad = await browser.post(AUTHORIZE, fields);
  t.equal(bad.status, 400);
  t.equal(alertText(bad.text), "Bad device");
});

t.test("empty fields are asked for again without a password check", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const reply = await browser.post(AUTHORIZE, { request: inputValue(form.text, "request") as string, username: " alice ", password: "" });
  t.equal(reply.status, 200);
  t.equal(alertText(reply.text), "Enter your username and password.");
  t.equal(inputValue(reply.text, "username"), "alice");
  const account = await browser.get("/account/");
  const empty = await browser.post("/account/", { request: inputValue(account.text, "request") as string, username: "", password: "x" });
  t.equal(empty.status, 200);
  t.equal(alertText(empty.text), "Enter your username and password.");
  t.same(gw.homeserver.logins, []);
});

t.test("an oversized form is a 413 page; an unknown account operation a 400 page", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const big = await browser.post(AUTHORIZE, { request: "x".repeat(70_000) });
  t.equal(big.status, 413);
  t.match(big.text, /Form too large/);
  t.equal(big.headers.get("x-frame-options"), "DENY");

  const form = await browser.get("/account/");
  const signedIn = await browser.post("/account/", {
    request: inputValue(form.text, "request") as string,
    username: "alice",
    password: "wonderland",
  });
  t.equal(signedIn.status, 303);
  const list = await browser.get("/account/");
  const unknown = await browser.post("/account/", { op: "rename", token: inputValue(list.text, "token") as string });
  t.equal(unknown.status, 400);
  t.match(unknown.text, /Unknown request/);
});

t.test("the consent page names an app's own scheme as where the browser goes", async (t) => {
  const gw = await startOAuthGateway(t);
  const browser = new Browser(gw.url);
  const form = await browser.get(
    `${AUTHORIZE}?${authorizeQuery({ client_id: NATIVE_CLIENT, redirect_uri: "net.example.native:/callback" })}`,
  );
  const consent = await browser.post(AUTHORIZE, {
    request: inputValue(form.text, "request") as string,
    username: "alice",
    password: "wonderland",
  });
  t.match(consent.text, /<dt>Sends you back to<\/dt><dd>the app \(net\.example\.native\)<\/dd>/);
  const done = await browser.post(AUTHORIZE, { grant: inputValue(consent.text, "grant") as string, consent: "1" });
  t.equal(done.status, 303);
  t.match(done.location, /^net\.example\.native:\/callback\?code=[A-Za-z0-9_-]{43}&state=state-123&iss=/);
});

t.test("every error on a page is a page: a wrong method, a store that fails, an unexpected error (logged)", async (t) => {
  const store = createMemoryStore();
  // The gateway wraps the store's methods when it starts: the failure is switched on later.
  let storeFails = false;
  const getClient = store.getClient.bind(store);
  store.getClient = async (id) => {
    if (storeFails) throw new Error("disk I/O error");
    return getClient(id);
  };
  const gw = await startOAuthGateway(t, {
    store,
    deps: {
      credentials: async () => {
        throw new Error("a bug in a credentials source");
      },
    },
  });
  const expectPage = (t: Test, reply: PageReply, status: number, title: string) => {
    t.equal(reply.status, status);
    t.match(reply.headers.get("content-type"), /^text\/html/);
    t.equal(reply.headers.get("x-frame-options"), "DENY");
    t.match(reply.text, `<h1>${title}</h1>`);
  };
  const wrongMethod = await fetch(`${gw.url}${AUTHORIZE}`, { method: "PUT" });
  expectPage(
    t,
    { status: wrongMethod.status, headers: wrongMethod.headers, text: await wrongMethod.text(), location: null },
    405,
    "Not available",
  );
  t.equal(wrongMethod.headers.get("allow"), "GET, POST, HEAD, OPTIONS");

  const browser = new Browser(gw.url);
  const form = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  const fields = { request: inputValue(form.text, "request") as string, username: "alice", password: "wonderland" };
  const crashed = await browser.post(AUTHORIZE, fields);
  expectPage(t, crashed, 500, "Something went wrong");
  t.notMatch(crashed.text, "a bug in a credentials source", "the error's own text stays in the log");
  t.ok(
    gw.logs.some((l) => l.msg === "request failed" && l.level === "error"),
    "logged as the router logs unexpected errors",
  );

  storeFails = true;
  const unavailable = await browser.get(`${AUTHORIZE}?${authorizeQuery()}`);
  expectPage(t, unavailable, 503, "Temporarily unavailable");
});
