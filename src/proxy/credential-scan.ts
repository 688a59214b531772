/**
 * The last line of defence behind the routing rules: a homeserver answer whose top-level JSON object
 * carries `access_token` or `refresh_token` is a homeserver credential, and the gateway never hands one
 * to a client (it would never expire, never rotate, never be revoked by the gateway). The scanner reads
 * the body as it streams, byte by byte, and tells as soon as such a key is complete — before the chunk
 * that holds it (and so the value after it) is relayed. It follows JSON's structure (strings, escapes,
 * nesting), so a key of a nested object or a value that merely contains the text does not count, and a
 * key spelled with escapes (`"access\u005ftoken"`) is read as a JSON parser reads it.
 */

const CREDENTIAL_KEYS: ReadonlySet<string> = new Set(["access_token", "refresh_token"]);
/** Longer raw keys cannot be one of the above, even fully escaped (`\uXXXX` × 13 = 78 bytes). */
const MAX_KEY_BYTES = 96;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

export class CredentialScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** At depth 1 of an object, between `{` or `,` and the next key. */
  private expectKey = false;
  /** The raw bytes of the top-level key being read, or undefined when the current string is not one. */
  private key: number[] | undefined;
  /** Whether the value at depth 0 is an object (only its keys are top-level keys). */
  private topIsObject = false;
  found: string | undefined;

  /** Reads `chunk`; true once a credential key has been seen (in this chunk or before). */
  scan(chunk: Uint8Array): boolean {
    if (this.found !== undefined) return true;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) {
          this.inString = false;
          if (this.key !== undefined && this.endKey()) return true;
          continue;
        }
        if (this.key !== undefined) {
          if (this.key.length < MAX_KEY_BYTES) this.key.push(byte);
          else this.key = undefined;
        }
        continue;
      }
      switch (byte) {
        case QUOTE:
          this.inString = true;
          this.key = this.depth === 1 && this.topIsObject && this.expectKey ? [] : undefined;
          this.expectKey = false;
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          if (this.depth === 0) this.topIsObject = byte === OPEN_BRACE;
          this.depth++;
          this.expectKey = this.depth === 1 && byte === OPEN_BRACE;
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          if (this.depth > 0) this.depth--;
          this.expectKey = false;
          break;
        case COMMA:
          if (this.depth === 1) this.expectKey = true;
          break;
      }
    }
    return false;
  }

  private endKey(): boolean {
    const raw = this.key as number[];
    this.key = undefined;
    let name: unknown;
    try {
      name = JSON.parse(`"${Buffer.from(raw).toString("utf8")}"`);
    } catch {
      return false;
    }
    if (typeof name === "string" && CREDENTIAL_KEYS.has(name)) {
      this.found = name;
      return true;
    }
    return false;
  }
}
