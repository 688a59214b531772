/** A subcommand's `--help`: its usage, summary and options. Imports nothing heavy (the CLI shows it before loading more). */
import type { Command } from "./shared.js";

export function helpText(command: Pick<Command, "usage" | "summary" | "options">): string {
  const lines = [`Usage: ${command.usage}`, "", command.summary, ""];
  for (const [name, spec] of Object.entries({ ...command.options, help: { type: "boolean", short: "h", description: "show this help" } })) {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${spec.type === "string" ? " VALUE" : ""}`;
    lines.push(`  ${flag.padEnd(26)}${spec.description}`);
  }
  return `${lines.join("\n")}\n`;
}
