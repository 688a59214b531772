/**
 * Operator mistakes that still make a working gateway, so they are warnings, not errors: a secret file
 * that other users of the machine can read, and a `trusted_proxies` entry that trusts every address.
 * Found once, when the file is loaded; `--check` prints them beside the errors' format and start-up
 * (and a reload) logs them, so they are loud wherever the operator looks.
 */
import fs from "node:fs";
import path from "node:path";
import type { ParsedConfig } from "./schema.js";

export interface ConfigWarning {
  line: number;
  col: number;
  /** Dotted key path, e.g. `jwt.secret_file` or `trusted_proxies.0`. */
  path: string;
  message: string;
  /** The file a file-mode warning is about (resolved); never its contents. */
  file?: string;
}

export type WarningReport = (keyPath: (string | number)[], message: string, file?: string) => void;

/** Group and other permission bits: a secret readable through them is readable by other accounts. */
const SHARED_BITS = 0o077;

/** Every warning about `config` (which parsed and passed the checks); files are resolved against `baseDir`. */
export function collectWarnings(config: ParsedConfig, baseDir: string, warn: WarningReport): void {
  const secretFiles: [(string | number)[], string | undefined][] = [
    [["jwt", "secret_file"], config.jwt.secret_file],
    [["store", "encryption_key_file"], config.store.encryption_key_file],
    [["upstream_identity", "as_token_file"], config.upstream_identity.as_token_file],
    [["credentials", "users_file"], config.credentials.users_file],
    [["oauth", "signing_key_file"], config.oauth.signing_key_file],
  ];
  (config.jwt.keys ?? []).forEach((key, i) => {
    secretFiles.push([["jwt", "keys", i, "secret_file"], key.secret_file]);
    secretFiles.push([["jwt", "keys", i, "private_key_file"], key.private_key_file]);
  });
  for (const [keyPath, file] of secretFiles) {
    if (file === undefined) continue;
    const resolved = path.resolve(baseDir, file);
    const mode = modeOf(resolved);
    if (mode !== undefined && (mode & SHARED_BITS) !== 0) {
      warn(keyPath, `${file} is readable by group or others (mode ${octal(mode)}): chmod 600 it`, resolved);
    }
  }
  config.trusted_proxies.forEach((entry, i) => {
    // Any prefix of length 0 matches its whole address family, whatever the address before it.
    if (entry.split("/")[1] === "0") {
      warn(
        ["trusted_proxies", i],
        `${entry} trusts every address: every client can then choose its own address (X-Forwarded-For), and with it its rate limits`,
      );
    }
  });
}

/** The file's permission bits, or `undefined` when it cannot be read (the errors report that). */
function modeOf(file: string): number | undefined {
  try {
    return fs.statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
}

const octal = (mode: number) => `0${mode.toString(8).padStart(3, "0")}`;

/** `FILE:LINE:COL: dotted.path: warning: message`, the errors' format with `warning:` before the message. */
export function formatWarning(file: string, warning: ConfigWarning): string {
  const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, " ");
  return `${file}:${warning.line}:${warning.col}: ${oneLine(warning.path) || "(root)"}: warning: ${oneLine(warning.message)}`;
}
