/** What every subcommand of the CLI shares: its shape, the `--config` option, config loading. */
import { ConfigError, type LoadOptions, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { formatWarning } from "../config/warnings.js";
import type { Logger } from "../observability/log.js";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  description: string;
}

export interface IO {
  out(text: string): void;
  err(text: string): void;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  main(values: Record<string, string | boolean | undefined>, io: IO, positionals: string[]): Promise<number>;
}

export const configOption: Record<string, OptionSpec> = {
  config: { type: "string", short: "c", description: "configuration file (default: config/gateway.yaml)" },
};

/** The config, or `undefined` after printing every problem as `FILE:LINE:COL: path: message`. */
export function readConfig(file: string, io: IO, options: LoadOptions = {}): Config | undefined {
  try {
    return loadConfig(file, options);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`${error.message}\n`);
      return undefined;
    }
    throw error;
  }
}

/** `--check`: one line per warning on stderr, in the errors' format; the exit status stays 0. */
export function printWarnings(file: string, config: Config, io: IO): void {
  for (const warning of config.warnings) io.err(`${formatWarning(file, warning)}\n`);
}

/** Start-up and reload: one warn line per warning, naming the key and the file (never what it holds). */
export function logWarnings(logger: Logger, config: Config): void {
  for (const warning of config.warnings) {
    logger.warn({ event: "config_warning", key: warning.path, file: warning.file }, warning.message);
  }
}

export function helpText(command: Command): string {
  const lines = [`Usage: ${command.usage}`, "", command.summary, ""];
  for (const [name, spec] of Object.entries({ ...command.options, help: { type: "boolean", short: "h", description: "show this help" } })) {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${spec.type === "string" ? " VALUE" : ""}`;
    lines.push(`  ${flag.padEnd(26)}${spec.description}`);
  }
  return `${lines.join("\n")}\n`;
}
