/**
 * Upstream credentials at rest: AES-256-GCM with a random 96-bit nonce per value.
 * Stored form: base64url(nonce ‖ ciphertext ‖ tag). The key comes from `store.encryption_key`.
 */
import crypto from "node:crypto";

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface CredentialCipher {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

export function createCredentialCipher(key: Buffer): CredentialCipher {
  const secretKey = crypto.createSecretKey(key);
  return {
    seal(plaintext) {
      const nonce = crypto.randomBytes(NONCE_BYTES);
      const cipher = crypto.createCipheriv("aes-256-gcm", secretKey, nonce);
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString("base64url");
    },
    open(sealed) {
      const bytes = Buffer.from(sealed, "base64url");
      const nonce = bytes.subarray(0, NONCE_BYTES);
      const tag = bytes.subarray(bytes.length - TAG_BYTES);
      const decipher = crypto.createDecipheriv("aes-256-gcm", secretKey, nonce);
      decipher.setAuthTag(tag);
      const text = decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES));
      // GCM deciphers as it goes and `final` only checks the tag (it throws on a mismatch and returns no
      // bytes), so nothing is concatenated; the text is read only once the tag is checked.
      decipher.final();
      return text.toString("utf8");
    },
  };
}
