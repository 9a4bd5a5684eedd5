/**
 * Checking credentials (write keys, the admin token) so that response timing says nothing about them. Both are
 * compared as SHA-256 digests: what a lookup or a comparison takes then depends on the digest of what was sent,
 * which a caller cannot steer toward a real credential byte by byte, and never on the credentials' lengths.
 */
import { createHash } from "node:crypto";

/** SHA-256 of a credential (node:crypto: synchronous, as the write-key lookup is). */
const sha256 = (credential: string) => createHash("sha256").update(credential);

/**
 * Values by credential, kept by the hex SHA-256 of the credential: no credential is kept in plaintext, and a
 * lookup hashes what was sent before the map compares anything.
 * @example const sources = new CredentialMap<string>(); sources.set("wk_demo_web", "web"); sources.get("wk_demo_web") // "web"
 */
export class CredentialMap<T> {
  /** Hex SHA-256 digest → value. */
  readonly byDigest = new Map<string, T>();

  set(credential: string, value: T): void {
    this.byDigest.set(sha256(credential).digest("hex"), value);
  }

  get(credential: string): T | undefined {
    return this.byDigest.get(sha256(credential).digest("hex"));
  }
}

/**
 * Whether `given` is the credential `expected`, in a time that depends on neither (workerd's
 * crypto.subtle.timingSafeEqual over their digests, which have one length).
 */
export function sameCredential(given: string, expected: string): boolean {
  return crypto.subtle.timingSafeEqual(sha256(given).digest(), sha256(expected).digest());
}
