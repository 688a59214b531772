/**
 * `npm run demo` (examples/demo/) is what a newcomer runs first: it must finish on its own, exit 0, and
 * show every step of the walkthrough — login, use, expiry, refresh, and theft ending the session.
 * The demo checks each answer itself and exits 1 on a surprise, so this also guards the behaviour shown.
 */
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

t.before(() => {
  // The demo imports the build: compile once if `npm run build` has not been run.
  if (!fs.existsSync(path.join(ROOT, "dist/src/gateway.js"))) {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });
  }
});

t.test("package.json has the demo script", async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  t.equal(pkg.scripts.demo, "node examples/demo/demo.mjs");
});

t.test("npm run demo walks through login, expiry, refresh and theft, then exits 0", async (t) => {
  const { code, stdout, stderr } = await new Promise<{ code: number | string | null; stdout: string; stderr: string }>((resolve) => {
    execFile("npm", ["run", "--silent", "demo"], { cwd: ROOT, timeout: 120_000, env: { ...process.env, CI: "1" } }, (error, out, err) =>
      resolve({ code: error ? (error.code ?? error.signal ?? -1) : 0, stdout: out, stderr: err }),
    );
  });
  t.equal(code, 0, stderr);
  t.equal(stderr, "");

  // Each step, in order.
  const steps = [
    /^1\. Log in through the gateway \(v3, refresh_token: true\)$/m,
    /^2\. Use the access token: whoami through the gateway$/m,
    /^3\. Five minutes later: the access token has expired \(soft_logout\)$/m,
    /^4\. Refresh: a new access token and a new refresh token$/m,
    /^5\. whoami with the new access token$/m,
    /^6\. Someone replays the OLD refresh token/m,
    /^7\. The new tokens are dead too$/m,
  ];
  let from = 0;
  for (const step of steps) {
    const at = stdout.slice(from).search(step);
    t.ok(at >= 0, `step shown in order: ${step.source}`);
    if (at >= 0) from += at;
  }

  // The HTTP exchanges that make the story.
  t.match(stdout, /< 200 \{"user_id":"@alice:example\.org","access_token":"eyJ[^"]*…[^"]*","expires_in_ms":300000/);
  t.match(stdout, /< 401 \{"errcode":"M_UNKNOWN_TOKEN","error":"Access token has expired","soft_logout":true\}/);
  t.match(stdout, /^ {3}=> theft detected: /m);
  t.match(stdout, /^ {3}=> session revoked: .*event=refresh_token_reuse, user_id=@alice:example\.org/m);
  t.match(stdout, /< 401 \{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token passed\.","soft_logout":false\}/);
  t.match(stdout, /homeserver session was logged out too \(sessions left: 0\)/);
  t.match(stdout, /\ndone\.\n$/);

  // Readable: tokens are shortened, never printed whole, and the password is masked.
  t.notMatch(stdout, /eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]+\./, "no whole JWT");
  t.notMatch(stdout, /magr_[A-Za-z0-9_-]{20,}/, "no whole refresh token");
  t.notMatch(stdout, /"password":"wonderland"/, "the password is masked");
  // Loopback only.
  for (const url of stdout.match(/https?:\/\/[^\s"]+/g) ?? []) t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, url);
});
