/**
 * `hash-password`: makes a users-file entry. The password is read from standard input (a line), never
 * from the command line, where it would land in shell history and the process list.
 */
import { hashPassword } from "../credentials/password-hash.js";
import type { Command } from "./shared.js";

export const hashPasswordCommand: Command = {
  name: "hash-password",
  summary: "read a password from standard input and print its scrypt hash for the users file",
  usage: "matrix-auth-gateway hash-password [--user LOCALPART] < password.txt",
  options: { user: { type: "string", short: "u", description: "print a ready users-file line for this localpart" } },
  async main(values, io) {
    const password = (await readStdin()).replace(/\r?\n$/, "");
    if (!password) {
      io.err("hash-password: no password on standard input\n");
      return 2;
    }
    const hash = await hashPassword(password);
    const user = values.user as string | undefined;
    io.out(user ? `  ${user}: "${hash}"\n` : `${hash}\n`);
    return 0;
  },
};

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("Password: ");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
