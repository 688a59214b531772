#!/usr/bin/env node
/**
 * `npm run demo:homeserver`: the demo homeserver on its own, for the quick start — 127.0.0.1:8008 (where
 * config/gateway.yaml looks for a homeserver), server name `localhost`, one user `alice` with the password
 * `wonderland`. Password login, whoami, logout and /versions only: enough for a first login through the
 * gateway, nothing more. Ctrl-C stops it.
 */
import { startDemoHomeserver } from "./homeserver.mjs";

const port = Number(process.env.DEMO_HOMESERVER_PORT ?? 8008);
try {
  const homeserver = await startDemoHomeserver({ serverName: "localhost", users: { alice: "wonderland" }, port });
  console.log(`demo homeserver on ${homeserver.url} (server name localhost, user alice / wonderland); Ctrl-C stops it`);
  const stop = () => homeserver.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
} catch (error) {
  console.error(`demo homeserver: cannot listen on 127.0.0.1:${port}: ${error.code ?? error.message}`);
  process.exit(1);
}
