/**
 * Upstream deadlines (proxy/deadlines.ts: one coarse timer, no timer per request) keep the semantics of a
 * socket idle timeout: an exchange is cut after `upstream.timeout` of *silence*, not of age. Silent before
 * the answer → 504; an answer that stalls mid-body is cut; an upload or an answer that keeps moving is never
 * cut; a long-poll gets its own `timeout` on top (test/routes/proxied.test.ts pins the plain 504 and the
 * long-poll).
 */
import http from "node:http";
import t from "tap";
import { bearer, startGateway, type TestGateway } from "../helpers/gateway.js";

const V3 = "/_matrix/client/v3";

/** A POST whose body is written in `chunks`, one every `everyMs`; resolves with the answer's status. */
function trickle(gw: TestGateway, token: string, chunks: string[], everyMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(gw.url);
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: `${V3}/user/@alice:example.org/filter`,
        headers: { ...bearer(token), "Content-Type": "application/json", "Transfer-Encoding": "chunked" },
        agent: false,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (part: Buffer) => parts.push(part));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    let sent = 0;
    const next = () => {
      if (sent === chunks.length) return void req.end();
      req.write(chunks[sent++]);
      setTimeout(next, everyMs);
    };
    next();
  });
}

t.test("an upload that keeps moving for longer than upstream.timeout is not cut", async (t) => {
  const gw = await startGateway(t); // upstream.timeout: 2s
  const { access_token } = await gw.login();
  const chunks = ['{"a":', '"b",', '"c":', '"d",', '"e":', '"f",', '"g":1}'];
  const started = performance.now();
  const reply = await trickle(gw, access_token, chunks, 500); // ~3 s in all, never 2 s silent
  t.ok(performance.now() - started > 2_500, "the upload took longer than upstream.timeout");
  t.equal(reply.status, 200);
  t.equal(gw.homeserver.received.at(-1)?.body, chunks.join(""), "the whole body arrived");
});

t.test("an answer that stalls after its headers is cut after upstream.timeout of silence", async (t) => {
  const gw = await startGateway(t);
  const { access_token } = await gw.login();
  gw.homeserver.setBodyDelay(6_000); // headers and one byte at once, the rest 6 s later
  const started = performance.now();
  const outcome = await gw.request(`${V3}/account/whoami`, { headers: bearer(access_token) }).then(
    (reply) => `answered ${reply.status}`,
    () => "cut",
  );
  const elapsed = performance.now() - started;
  t.equal(outcome, "cut", "the client's response was cut, not completed");
  t.ok(elapsed >= 1_900 && elapsed < 5_000, `after about upstream.timeout (${Math.round(elapsed)} ms), not the 6 s stall`);
  gw.homeserver.setBodyDelay(0);
  t.equal((await gw.request(`${V3}/account/whoami`, { headers: bearer(access_token) })).status, 200, "the next request is fine");
});

t.test("many exchanges at once each get their own deadline from one timer", async (t) => {
  const gw = await startGateway(t);
  const { access_token } = await gw.login();
  // The long-polls wait 3 s at the homeserver (longer than upstream.timeout: their own timeout is added).
  const polls = Array.from({ length: 20 }, () => gw.request(`${V3}/sync?since=x&timeout=3000`, { headers: bearer(access_token) }));
  for (let i = 0; i < 200 && gw.homeserver.received.filter((r) => r.url.includes("/sync")).length < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  gw.homeserver.setDelay(2_600); // later requests: silent past upstream.timeout
  const slow = Array.from({ length: 20 }, () => gw.request(`${V3}/account/whoami`, { headers: bearer(access_token) }));
  const slowReplies = await Promise.all(slow);
  t.ok(
    slowReplies.every((reply) => reply.status === 504),
    "every silent request got its 504",
  );
  const pollReplies = await Promise.all(polls);
  t.ok(
    pollReplies.every((reply) => reply.status === 200),
    "every long-poll (its 3 s timeout on top) was let through",
  );
});
