/**
 * `sessions list --user ID` and `sessions revoke --user ID | --session ID`: work on the configured store,
 * also while the gateway runs (it drops revoked sessions from its cache within `store.revocation_poll`).
 * A revoked session's homeserver session is logged out too.
 * `sessions copy --from OLD_CONFIG`: copies every live session of the store OLD_CONFIG names into the
 * configured one (moving from SQLite to Redis without logging anybody out).
 */
import type { Config } from "../config/schema.js";
import { copySessions } from "../store/copy-sessions.js";
import { createStore } from "../store/index.js";
import type { SessionRecord } from "../store/store.js";
import { createUpstreamClient } from "../upstream/client.js";
import { type Command, configOption, type IO, readConfig } from "./shared.js";

export const sessionsCommand: Command = {
  name: "sessions",
  summary:
    "list, revoke or copy login sessions: `sessions list --user ID`, `sessions revoke --user ID | --session ID`, `sessions copy --from OLD_CONFIG`",
  usage:
    "matrix-auth-gateway sessions list|revoke [--config FILE] (--user @user:server | --session ID)\n" +
    "       matrix-auth-gateway sessions copy --from OLD_CONFIG [--config FILE]",
  options: {
    ...configOption,
    user: { type: "string", short: "u", description: "the user ID, e.g. @alice:example.org" },
    session: { type: "string", short: "s", description: "one session id (revoke only); write --session=ID if it begins with -" },
    from: { type: "string", description: "copy only: the configuration file of the store to copy from" },
  },
  async main(values, io, positionals) {
    const action = positionals[0];
    const user = values.user as string | undefined;
    const session = values.session as string | undefined;
    if (action === "copy") return copy(values, io);
    if (action !== "list" && action !== "revoke") {
      io.err("sessions: say `list`, `revoke` or `copy`\n");
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

async function copy(values: Record<string, string | boolean | undefined>, io: IO): Promise<number> {
  const fromFile = values.from as string | undefined;
  if (!fromFile || values.user !== undefined || values.session !== undefined) {
    io.err("sessions copy: give --from OLD_CONFIG (and --config for the new one), nothing else\n");
    return 2;
  }
  const toFile = (values.config as string | undefined) ?? "config/gateway.yaml";
  const from = readConfig(fromFile, io);
  const to = from && readConfig(toFile, io);
  if (!from || !to) return 2;
  if (from.store.type === "memory" || to.store.type === "memory") {
    io.err("sessions copy: the memory store lives inside a running gateway; copy between sqlite and redis stores\n");
    return 1;
  }
  if (storeName(from) === storeName(to)) {
    io.err(`sessions copy: both files name the same store (${storeName(to)})\n`);
    return 2;
  }
  if (!sameSigningKeys(from, to)) {
    io.err(
      "sessions copy: warning: the two files have different JWT keys: the gateway on the new store will refuse the access " +
        "tokens issued before the move (401 M_UNKNOWN_TOKEN, and clients log out). Give it the old keys to move without that.\n",
    );
  }
  const source = createStore(from);
  const target = createStore(to);
  try {
    const result = await copySessions(source, target, { now: Date.now(), idleMs: to.tokens.refresh_ttl });
    io.out(
      `copied ${result.copied} sessions from ${storeName(from)} to ${storeName(to)}; ` +
        `left ${result.present} already there and ${result.expired} past their limits\n`,
    );
    // A line of its own, and only where the OAuth 2.0 API registered clients: the first line stays as it was.
    const { clients } = result;
    if (clients.copied + clients.present > 0) io.out(`copied ${clients.copied} OAuth clients; left ${clients.present} already there\n`);
    return 0;
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
}

/** What a store is, for messages and for telling two apart: the file, or the Redis URL and key prefix. */
function storeName(config: Config): string {
  return config.store.type === "redis" ? `redis ${config.store.url} ${config.store.redis.key_prefix}` : `sqlite ${config.store.path}`;
}

function sameSigningKeys(a: Config, b: Config): boolean {
  const fingerprint = (config: Config) =>
    JSON.stringify(config.jwt.keys.map((k) => [k.kid, k.algorithm, k.verificationKey.export({ format: "jwk" })]));
  return fingerprint(a) === fingerprint(b);
}

function formatSessions(sessions: SessionRecord[]): string {
  if (sessions.length === 0) return "no sessions\n";
  const rows = sessions.map((s) => [
    s.id,
    s.userId,
    s.deviceId,
    new Date(s.createdAt).toISOString(),
    new Date(s.expiresAt).toISOString(),
    s.refresh ? new Date(s.refresh.currentIssuedAt).toISOString() : "-",
    // Sessions started through the OAuth 2.0 API: the client that holds them; "-" for /login ones.
    s.oauth?.clientId ?? "-",
  ]);
  const header = ["SESSION", "USER", "DEVICE", "CREATED", "EXPIRES", "LAST REFRESH", "CLIENT"];
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
