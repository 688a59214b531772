/**
 * Starts a real gateway on 127.0.0.1:0 in front of a fake homeserver, with a manual clock and a
 * memory store unless told otherwise. Teardown is registered on the test right away.
 */
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import type { Test } from "tap";
import { ManualClock } from "../../src/clock.js";
import { parseConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { createGateway, type Gateway, type GatewayDeps } from "../../src/gateway.js";
import { createLogger } from "../../src/observability/log.js";
import { type FakeHomeserver, startFakeHomeserver } from "./fake-homeserver.js";

export const TEST_SECRET = "test-secret-that-is-at-least-32-bytes-long!";
export const SERVER_NAME = "example.org";

export interface TestGateway {
  gateway: Gateway;
  homeserver: FakeHomeserver;
  clock: ManualClock;
  config: Config;
  url: string;
  /** Every log line the gateway wrote, parsed. */
  logs: Record<string, unknown>[];
  /** fetch() against the gateway; `path` starts with `/`. */
  request(path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: any }>;
  /** Logs alice in on `prefix` (default v3) and returns the JSON answer. */
  login(options?: { prefix?: string; refresh?: boolean; user?: string; password?: string }): Promise<any>;
}

export interface StartOptions {
  /** Extra YAML appended to the minimal config (keys must not repeat the minimal ones). */
  yaml?: string;
  /** Replaces the `tokens:` block. */
  tokens?: string;
  deps?: GatewayDeps;
  homeserver?: FakeHomeserver;
  clock?: ManualClock;
  storeYaml?: string;
  /** Replaces the `rate_limits:` block; by default limits are off so tests can repeat requests freely. */
  rateLimits?: string;
  /** Replaces the `jwt:` line (key sets); by default one HS256 secret. */
  jwtYaml?: string;
  /** More keys of the `upstream:` block, e.g. `max_sockets: 2, socket_wait: 500ms`. */
  upstreamYaml?: string;
  /** The port to listen on (default 0: any free one), for a gateway that must know its own URL (`public_baseurl`). */
  port?: number;
}

export function testConfig(upstreamUrl: string, options: StartOptions = {}): Config {
  const text = [
    `server_name: ${SERVER_NAME}`,
    `listen: {host: 127.0.0.1, port: ${options.port ?? 0}}`,
    `upstream: {url: "${upstreamUrl}", timeout: 2s${options.upstreamYaml ? `, ${options.upstreamYaml}` : ""}}`,
    options.jwtYaml ?? `jwt: {secret: "${TEST_SECRET}"}`,
    options.storeYaml ?? "store: {type: memory}",
    options.tokens ?? "tokens: {access_ttl: 5m, refresh_ttl: 1d, session_max_age: 7d, refresh_reuse_grace: 30s}",
    options.rateLimits ?? "rate_limits: {enabled: false}",
    "log: {level: info}",
    options.yaml ?? "",
  ].join("\n");
  return parseConfig(text, "/tmp/test-gateway.yaml");
}

export async function startGateway(t: Test, options: StartOptions = {}): Promise<TestGateway> {
  const homeserver = options.homeserver ?? (await startFakeHomeserver(SERVER_NAME));
  if (!options.homeserver) {
    homeserver.addUser("alice", "wonderland");
    homeserver.addUser("bob", "builder");
    t.teardown(() => homeserver.close());
  }
  const clock = options.clock ?? new ManualClock(Date.now());
  const config = testConfig(homeserver.url, options);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const gateway = createGateway(config, { clock, logger: createLogger("info", sink), ...options.deps });
  const address: AddressInfo = await gateway.listen();
  t.teardown(async () => {
    await gateway.close();
    recordForAudit(logs, homeserver.passwords());
  });
  const url = `http://127.0.0.1:${address.port}`;

  const request: TestGateway["request"] = async (path, init) => {
    const response = await fetch(url + path, init);
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body };
  };

  const login: TestGateway["login"] = async ({
    prefix = "/_matrix/client/v3",
    refresh = true,
    user = "alice",
    password = "wonderland",
  } = {}) => {
    const body: Record<string, unknown> = { type: "m.login.password", identifier: { type: "m.id.user", user }, password };
    if (refresh) body.refresh_token = true;
    const reply = await request(`${prefix}/login`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    });
    if (reply.status !== 200) throw new Error(`login failed: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body;
  };

  return { gateway, homeserver, clock, config, url, logs, request, login };
}

/**
 * With MAG_AUDIT_DIR set (`npm test` sets it), every log line of every gateway a test started is kept,
 * with the passwords it knew, for test/audit/secrets-in-logs.mjs to search once the whole suite has run.
 */
function recordForAudit(logs: Record<string, unknown>[], passwords: string[]): void {
  const dir = process.env.MAG_AUDIT_DIR;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, `${process.pid}.jsonl`), `${JSON.stringify({ passwords, logs })}\n`);
}

/** `Authorization: Bearer` header for fetch(). */
export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
