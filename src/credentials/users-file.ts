/**
 * The `users_file` credentials source: the gateway checks passwords itself, against a YAML or JSON file
 *   users:
 *     alice: "scrypt$N=16384,r=8,p=1$…$…"     # made with `matrix-auth-gateway hash-password`
 * The file is re-read when it changes; a broken edit is logged and the last good version kept.
 * An unknown user costs the same scrypt work as a wrong password, so timing tells nothing.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import { parse as parseYaml } from "yaml";
import { invalidPassword } from "../http/errors.js";
import type { Logger } from "../observability/log.js";
import { DEFAULT_SCRYPT, type ParsedHash, parseHash, verifyPassword } from "./password-hash.js";
import type { CredentialsSource } from "./upstream-login.js";

/** How often the file's modification time is checked (fs.watchFile polls: works on every filesystem). */
const WATCH_INTERVAL_MS = 2000;
const DEVICE_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/**
 * Whether `password` is the user's (`userId`: `@localpart:server_name`), and nothing more: no session, no
 * account or device at the homeserver. For the gateway's own user-interactive auth (routes/appservice-uia.ts).
 */
export type PasswordCheck = (userId: string, password: string) => Promise<boolean>;

export interface UsersFile {
  source: CredentialsSource;
  checkPassword: PasswordCheck;
  close(): void;
}

/** Parses the file's text: the users and their hashes, or the problems found. */
export function parseUsersFile(text: string): { users: Map<string, ParsedHash>; problems: string[] } {
  const users = new Map<string, ParsedHash>();
  const problems: string[] = [];
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    return { users, problems: [`not YAML/JSON: ${(error as Error).message.split("\n")[0]}`] };
  }
  const entries = (doc as { users?: unknown } | null)?.users;
  if (typeof entries !== "object" || entries === null || Array.isArray(entries)) {
    return { users, problems: ["expected a mapping `users: {localpart: hash}`"] };
  }
  for (const [localpart, hash] of Object.entries(entries)) {
    const parsed = typeof hash === "string" ? parseHash(hash) : undefined;
    if (!parsed) problems.push(`users.${localpart}: not a hash made by hash-password`);
    else users.set(localpart.toLowerCase(), parsed);
  }
  return { users, problems };
}

/** Reads the file now (throwing on problems: a start with a broken file is a config error) and watches it. */
export function openUsersFile(file: string, serverName: string, logger: Logger): UsersFile {
  const first = parseUsersFile(fs.readFileSync(file, "utf8"));
  if (first.problems.length) throw new Error(`${file}: ${first.problems.join("; ")}`);
  let users = first.users;

  const reread = () => {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (error) {
      logger.error({ err: (error as Error).message, file }, "users file unreadable: the last good version is kept");
      return;
    }
    const next = parseUsersFile(text);
    if (next.problems.length) {
      logger.error({ problems: next.problems, file }, "users file refused: the last good version is kept");
      return;
    }
    users = next.users;
    logger.info({ file, users: users.size }, "users file reloaded");
  };
  fs.watchFile(file, { interval: WATCH_INTERVAL_MS, persistent: false }, (now, before) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) reread();
  });

  // Verified against when the user is unknown, so that both cases cost one scrypt.
  const decoy: ParsedHash = { ...DEFAULT_SCRYPT, salt: crypto.randomBytes(16), hash: crypto.randomBytes(32) };

  const localpartOf = (userId: string) => userId.slice(1, userId.lastIndexOf(`:${serverName}`)).toLowerCase();
  const checkPassword: PasswordCheck = async (userId, password) => {
    const stored = users.get(localpartOf(userId));
    const ok = await verifyPassword(password, stored ?? decoy);
    return stored !== undefined && ok;
  };

  return {
    source: async (login) => {
      if (!(await checkPassword(login.userId, login.password))) throw invalidPassword();
      return { userId: `@${localpartOf(login.userId)}:${serverName}`, deviceId: login.deviceId ?? newDeviceId(), upstreamToken: "" };
    },
    checkPassword,
    close: () => fs.unwatchFile(file),
  };
}

/** Ten capital letters, like the device ids Synapse makes. */
function newDeviceId(): string {
  return Array.from(crypto.randomBytes(10), (b) => DEVICE_ID_ALPHABET[b % 26]).join("");
}
