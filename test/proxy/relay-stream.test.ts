/**
 * A relayed answer streams to the client as the homeserver sends it, at the pace the client reads: a
 * client that falls behind holds the homeserver's answer back (no unbounded buffering in the gateway) and
 * still receives every byte, in order, once it reads again.
 */
import crypto from "node:crypto";
import http from "node:http";
import t from "tap";
import { bearer, startGateway } from "../helpers/gateway.js";

const V3 = "/_matrix/client/v3";
/** Larger than what the loopback sockets buffer between the gateway and a client that stops reading. */
const ANSWER_BYTES = 24 * 1024 * 1024;

interface Download {
  status: number;
  contentLength: string | undefined;
  bytes: number;
  sha256: string;
}

/** GETs `path`, reads nothing for `stallMs`, then the whole body; rejects if it does not end within `limitMs`. */
function slowDownload(base: string, path: string, headers: Record<string, string>, stallMs: number, limitMs: number): Promise<Download> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(base);
    const req = http.get({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      res.pause();
      const hash = crypto.createHash("sha256");
      let bytes = 0;
      const limit = setTimeout(() => {
        req.destroy();
        reject(new Error(`the answer stalled: ${bytes} of ${ANSWER_BYTES} bytes after ${limitMs} ms`));
      }, limitMs);
      setTimeout(() => {
        res.on("data", (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
        });
        res.resume();
      }, stallMs);
      res.on("end", () => {
        clearTimeout(limit);
        resolve({ status: res.statusCode ?? 0, contentLength: res.headers["content-length"], bytes, sha256: hash.digest("hex") });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

t.test("a large answer to a client that falls behind arrives whole, in order", async (t) => {
  const gw = await startGateway(t);
  const { access_token } = await gw.login();
  const body = crypto.randomBytes(ANSWER_BYTES / 2).toString("hex");
  gw.homeserver.setCannedAnswer(`${V3}/custom/large`, { status: 200, body, headers: { "Content-Length": String(ANSWER_BYTES) } });
  const download = await slowDownload(gw.url, `${V3}/custom/large`, bearer(access_token), 500, 60_000);
  t.strictSame(download, {
    status: 200,
    contentLength: String(ANSWER_BYTES),
    bytes: ANSWER_BYTES,
    sha256: crypto.createHash("sha256").update(body).digest("hex"),
  });
  // The same connection pool serves the next request as usual: nothing was left paused.
  const me = await gw.request(`${V3}/account/whoami`, { headers: bearer(access_token) });
  t.equal(me.status, 200);
});
