/**
 * `sessions list --user ID` and `sessions revoke --user ID | --session ID`: work on the configured store,
 * also while the gateway runs (it drops revoked sessions from its cache within `store.revocation_poll`).
 * A revoked session's homeserver session is logged out too.
 */
import { createStore } from "../store/index.js";
import type { SessionRecord } from "../store/store.js";
import { createUpstreamClient } from "../upstream/client.js";
import { type Command, configOption, readConfig } from "./shared.js";

export const sessionsCommand: Command = {
  name: "sessions",
  summary: "list or revoke login sessions: `sessions list --user ID`, `sessions revoke --user ID | --session ID`",
  usage: "matrix-auth-gateway sessions list|revoke [--config FILE] (--user @user:server | --session ID)",
  options: {
    ...configOption,
    user: { type: "string", short: "u", description: "the user ID, e.g. @alice:example.org" },
    session: { type: "string", short: "s", description: "one session id (revoke only); write --session=ID if it begins with -" },
  },
  async main(values, io, positionals) {
    const action = positionals[0];
    const user = values.user as string | undefined;
    const session = values.session as string | undefined;
    if (action !== "list" && action !== "revoke") {
      io.err("sessions: say `list` or `revoke`\n");
      return 2;
    }
    if (action === "list" ? !user : (user === undefined) === (session === undefined)) {
      io.err(action === "list" ? "sessions list: --user is required\n" : "sessions revoke: give exactly one of --user and --session\n");
      return 2;
    }
    const file = (values.config as string | undefined) ?? "config/gateway.yaml";
    const config = readConfig(file, io);
    if (!config) return 2;
    if (config.store.type === "memory") {
      io.err("sessions: the memory store lives inside the running gateway; there is nothing to open here\n");
      return 1;
    }
    const store = createStore(config);
    try {
      if (action === "list") {
        const sessions = await store.listUserSessions(user as string);
        io.out(formatSessions(sessions));
        return 0;
      }
      const revoked =
        user !== undefined
          ? await store.deleteUserSessions(user)
          : [await store.deleteSession(session as string)].filter((s) => s !== undefined);
      const upstream = createUpstreamClient(config.upstream.url, config.upstream.timeout);
      for (const s of revoked) {
        let upstreamNote = "homeserver session logged out";
        if (!s.upstreamToken) {
          io.out(`revoked ${s.id} (${s.userId}, device ${s.deviceId})\n`);
          continue;
        }
        try {
          const reply = await upstream.post("/_matrix/client/v3/logout", {}, s.upstreamToken);
          if (reply.status !== 200 && reply.status !== 401) upstreamNote = `homeserver logout answered ${reply.status}`;
        } catch (error) {
          upstreamNote = `homeserver logout failed: ${(error as Error).message}`;
        }
        io.out(`revoked ${s.id} (${s.userId}, device ${s.deviceId}): ${upstreamNote}\n`);
      }
      await upstream.close();
      if (revoked.length === 0) {
        io.err("sessions revoke: no such session\n");
        return 1;
      }
      return 0;
    } finally {
      await store.close();
    }
  },
};

function formatSessions(sessions: SessionRecord[]): string {
  if (sessions.length === 0) return "no sessions\n";
  const rows = sessions.map((s) => [
    s.id,
    s.userId,
    s.deviceId,
    new Date(s.createdAt).toISOString(),
    new Date(s.expiresAt).toISOString(),
    s.refresh ? new Date(s.refresh.currentIssuedAt).toISOString() : "-",
  ]);
  const header = ["SESSION", "USER", "DEVICE", "CREATED", "EXPIRES", "LAST REFRESH"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  return `${[header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] as number))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}
