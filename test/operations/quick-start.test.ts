/**
 * README's quick start, as a newcomer follows it: the demo homeserver (`npm run demo:homeserver`), the gateway
 * with the shipped config/gateway.yaml (`npm start`), then a first login, a call and a refresh with curl's
 * requests. Only the two ports differ from the README (free ones, so the test runs beside anything else).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import t from "tap";
import { freePort } from "../helpers/http.js";
import { buildOnce, CHILD_START_MS, ROOT, startCli, within } from "../helpers/processes.js";

buildOnce();

t.test("quick start: demo homeserver, shipped config, first login, whoami, refresh", async (t) => {
  const [homeserverPort, gatewayPort] = [await freePort(), await freePort()];
  const homeserver = spawn(process.execPath, [path.join(ROOT, "examples/demo/run-homeserver.mjs")], {
    env: { ...process.env, DEMO_HOMESERVER_PORT: String(homeserverPort) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => homeserver.kill("SIGKILL"));
  const announced = await within(
    new Promise<string>((resolve) => homeserver.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString("utf8")))),
    CHILD_START_MS,
  );
  t.match(announced, /demo homeserver on http:\/\/127\.0\.0\.1:\d+ \(server name localhost, user alice \/ wonderland\)/);

  // config/gateway.yaml as shipped, its two ports moved; its data files land beside a copy of it.
  const dir = t.testdir({ config: {} });
  const shipped = fs.readFileSync(path.join(ROOT, "config/gateway.yaml"), "utf8");
  t.match(shipped, /port: 8080/);
  t.match(shipped, /url: http:\/\/127\.0\.0\.1:8008/);
  const config = shipped
    .replace("port: 8080", `port: ${gatewayPort}`)
    .replace("url: http://127.0.0.1:8008", `url: http://127.0.0.1:${homeserverPort}`);
  const gw = await startCli(t, path.join(dir, "config"), gatewayPort, config);
  const base = `http://127.0.0.1:${gw.port}`;

  const login = await fetch(`${base}/_matrix/client/v3/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "alice" },
      password: "wonderland",
      refresh_token: true,
    }),
  });
  const session = (await login.json()) as Record<string, string>;
  t.equal(login.status, 200, "a first login through the gateway");
  t.match(session, { user_id: "@alice:localhost", access_token: /^eyJ/, refresh_token: /^magr_/, home_server: "localhost" });

  const whoami = await fetch(`${base}/_matrix/client/v3/account/whoami`, { headers: { Authorization: `Bearer ${session.access_token}` } });
  t.equal(whoami.status, 200);
  t.match(await whoami.json(), { user_id: "@alice:localhost" });

  const refreshed = await fetch(`${base}/_matrix/client/v3/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh_token }),
  });
  t.equal(refreshed.status, 200, "and a refresh");
  t.match(await refreshed.json(), { access_token: /^eyJ/, refresh_token: /^magr_/, expires_in_ms: Number });
  t.ok(fs.existsSync(path.join(dir, "data/jwt.secret")), "the JWT secret was created on first start, beside the config");

  gw.child.kill("SIGTERM");
  t.same(await within(gw.exited, CHILD_START_MS), { code: 0, signal: null }, "stops cleanly");
});
