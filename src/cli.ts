#!/usr/bin/env node
/**
 * The `matrix-auth-gateway` command: `run` (the default), `check-config`, `sessions`, `gen-secret`,
 * `gen-keys`. Each takes `--help`. A bad configuration exits 2 before anything starts.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { checkConfigCommand } from "./commands/check-config.js";
import { hashPasswordCommand } from "./commands/hash-password.js";
import { runCommand } from "./commands/run.js";
import { genKeysCommand, genSecretCommand } from "./commands/secrets.js";
import { sessionsCommand } from "./commands/sessions.js";
import { type Command, helpText, type IO } from "./commands/shared.js";

const COMMANDS: Command[] = [runCommand, checkConfigCommand, sessionsCommand, genSecretCommand, genKeysCommand, hashPasswordCommand];

const io: IO = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };

function overview(): string {
  return [
    "Usage: matrix-auth-gateway [COMMAND] [OPTIONS]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(14)}${c.summary}`),
    "",
    "Without a command, `run` is meant: matrix-auth-gateway --config FILE [--check].",
    "`matrix-auth-gateway COMMAND --help` tells more.",
    "",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const named = COMMANDS.find((c) => c.name === argv[0]);
  const command = named ?? runCommand;
  const args = named ? argv.slice(1) : argv;
  if (!named && (argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help")) {
    io.out(overview());
    return 0;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: { ...command.options, help: { type: "boolean", short: "h" } } as ParseArgsConfig["options"],
      strict: true,
      allowPositionals: command === sessionsCommand,
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${helpText(command)}`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(helpText(command));
    return 0;
  }
  return command.main(parsed.values as Record<string, string | boolean | undefined>, io, parsed.positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`matrix-auth-gateway: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
