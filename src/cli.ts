#!/usr/bin/env node
/**
 * The `matrix-auth-gateway` command: `run` (the default), `check-config`, `sessions`, `gen-secret`,
 * `gen-keys`, `hash-password`, `version`. Each takes `--help`. A bad configuration exits 2 before anything
 * starts; a problem of the machine (a port in use, a file that cannot be opened) is one line on stderr and exit 1.
 *
 * A subcommand's module is imported only when that command runs: `--check` loads the configuration code,
 * not the gateway, and `--version` loads nothing.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { type ParseArgsConfig, parseArgs } from "node:util";
import type { Command, IO } from "./commands/shared.js";

interface Entry {
  name: string;
  /** Shown by `--help` without loading the command (a test checks it equals the command's own). */
  summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: Entry[] = [
  {
    name: "run",
    summary: "run the gateway (the default command)",
    load: async () => (await import("./commands/run.js")).runCommand,
  },
  {
    name: "check-config",
    summary: "validate a configuration file and exit (every problem as FILE:LINE:COL: path: message)",
    load: async () => (await import("./commands/check-config.js")).checkConfigCommand,
  },
  {
    name: "sessions",
    summary:
      "list, revoke or copy login sessions: `sessions list --user ID`, `sessions revoke --user ID | --session ID`, `sessions copy --from OLD_CONFIG`",
    load: async () => (await import("./commands/sessions.js")).sessionsCommand,
  },
  {
    name: "gen-secret",
    summary: "print a strong random HS256 secret (48 bytes, base64url) for jwt.secret",
    load: async () => (await import("./commands/secrets.js")).genSecretCommand,
  },
  {
    name: "gen-keys",
    summary:
      "make an ES256 (P-256) key pair in PEM — with --rsa an RSA 3072 one, for RS256 or oauth.signing_key_file: printed, or written to DIR/private.pem (0600) and DIR/public.pem",
    load: async () => (await import("./commands/secrets.js")).genKeysCommand,
  },
  {
    name: "hash-password",
    summary: "read a password from standard input and print its scrypt hash for the users file",
    load: async () => (await import("./commands/hash-password.js")).hashPasswordCommand,
  },
  { name: "version", summary: "print the version and exit (also --version)", load: async () => versionCommand },
];

/** Commands that take positional arguments (`sessions list`). */
const TAKES_POSITIONALS = new Set(["sessions"]);

const processIO: IO = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };

/** The package's version, from the package.json above this file (dist/src/cli.js, or src/cli.ts in tests). */
export function version(): string {
  for (const relative of ["../../package.json", "../package.json"]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL(relative, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "matrix-auth-gateway" && pkg.version) return pkg.version;
    } catch {
      // not this one
    }
  }
  return "unknown";
}

const versionCommand: Command = {
  name: "version",
  summary: "print the version and exit (also --version)",
  usage: "matrix-auth-gateway version",
  options: {},
  async main(_values, io) {
    io.out(`matrix-auth-gateway ${version()}\n`);
    return 0;
  },
};

function overview(): string {
  return [
    "Usage: matrix-auth-gateway [COMMAND] [OPTIONS]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(14)}${c.summary}`),
    "",
    "Without a command, `run` is meant: matrix-auth-gateway --config FILE [--check].",
    "`matrix-auth-gateway COMMAND --help` tells more; `matrix-auth-gateway --version` prints the version.",
    "",
  ].join("\n");
}

/** Runs the command line `argv` (without `node cli.js`); resolves with the exit status. */
export async function main(argv: string[], io: IO = processIO): Promise<number> {
  if (argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    io.out(overview());
    return 0;
  }
  if (argv[0] === "--version" || argv[0] === "-V") return versionCommand.main({}, io, []);
  const named = COMMANDS.find((c) => c.name === argv[0]);
  const entry = named ?? (COMMANDS[0] as Entry);
  const args = named ? argv.slice(1) : argv;
  const command = await entry.load();
  // Loaded with the command (every command's module imports it already); `--version` and the overview do without.
  const { helpText } = await import("./commands/shared.js");
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: { ...command.options, help: { type: "boolean", short: "h" } } as ParseArgsConfig["options"],
      strict: true,
      allowPositionals: TAKES_POSITIONALS.has(command.name),
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${helpText(command)}`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(helpText(command));
    return 0;
  }
  try {
    return await command.main(parsed.values as Record<string, string | boolean | undefined>, io, parsed.positionals);
  } catch (error) {
    // An error of the machine (a system call's, SQLite's) has a code and needs no stack to be understood;
    // anything else is a bug, and its stack is what a report needs.
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && error instanceof Error) {
      io.err(`matrix-auth-gateway: ${error.message}${error.message.includes(code) ? "" : ` (${code})`}\n`);
      return 1;
    }
    throw error;
  }
}

/** Run when this file is the program (`node dist/src/cli.js`, or npm's bin link to it), not when imported. */
function isProgram(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return fs.realpathSync(script) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isProgram()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`matrix-auth-gateway: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
