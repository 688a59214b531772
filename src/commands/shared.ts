/** What every subcommand of the CLI shares: its shape, the `--config` option, config loading. */
import { ConfigError, type LoadOptions, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";

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

export function helpText(command: Command): string {
  const lines = [`Usage: ${command.usage}`, "", command.summary, ""];
  for (const [name, spec] of Object.entries({ ...command.options, help: { type: "boolean", short: "h", description: "show this help" } })) {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${spec.type === "string" ? " VALUE" : ""}`;
    lines.push(`  ${flag.padEnd(26)}${spec.description}`);
  }
  return `${lines.join("\n")}\n`;
}
