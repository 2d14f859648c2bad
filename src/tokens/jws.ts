import type { CryptoKey } from 'jose';
import { KeyObject, constants, sign, verify, type SignKeyObjectInput } from 'node:crypto';

/**
 * RFC 7515 §7.1 JWS Compact Serialization, signed with node:crypto on the calling thread.
 * Tokens are signed on every token request: WebCrypto's `subtle.sign` (what a JWS library
 * uses) costs about three times the CPU of `crypto.sign` for ES256, in job scheduling and
 * promise plumbing around the same OpenSSL call. The output is the same JWS.
 */

/** The signing key as node:crypto wants it, made once per key. */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

function keyObject(key: CryptoKey): KeyObject {
  let object = keyObjects.get(key);
  if (object === undefined) {
    object = KeyObject.from(key);
    keyObjects.set(key, object);
  }
  return object;
}

/** RFC 7518 §3.1 (and RFC 8037 §3.1 for EdDSA): digest and key options per `alg`. */
function signer(alg: string, key: KeyObject): [string | null, SignKeyObjectInput] {
  switch (alg) {
    case 'ES256':
      // RFC 7518 §3.4: R || S, not DER.
      return ['sha256', { key, dsaEncoding: 'ieee-p1363' }];
    case 'RS256':
      return ['sha256', { key, padding: constants.RSA_PKCS1_PADDING }];
    case 'PS256':
      // RFC 7518 §3.5: MGF1 with SHA-256 and a salt as long as the digest.
      return ['sha256', { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }];
    case 'EdDSA':
      return [null, { key }];
    default:
      throw new Error(`unsupported JWS algorithm ${alg}`);
  }
}

/** `header` must name the key's `alg`; the payload is the JSON of `claims`. */
export function signCompact(
  header: { alg: string; kid: string; typ: string },
  claims: object,
  privateKey: CryptoKey,
): string {
  const input =
    Buffer.from(JSON.stringify(header)).toString('base64url') +
    '.' +
    Buffer.from(JSON.stringify(claims)).toString('base64url');
  const [digest, options] = signer(header.alg, keyObject(privateKey));
  return `${input}.${sign(digest, Buffer.from(input), options).toString('base64url')}`;
}

/** Why a compact JWS was refused before its claims were looked at. */
export class JwsRejected extends Error {
  constructor(readonly reason: 'malformed' | 'signature') {
    super(`JWS rejected: ${reason}`);
  }
}

export interface JwsHeader {
  alg: string;
  kid: string | undefined;
  typ: unknown;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function jsonObject(part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(Buffer.from(part, 'base64url')));
  } catch {
    throw new JwsRejected('malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwsRejected('malformed');
  }
  return value as Record<string, unknown>;
}

/**
 * RFC 7515 §5.2 validation of a compact JWS with node:crypto (see the module comment): the
 * protected header, the key `keyFor` picks from it (it throws to refuse), the signature, and a
 * payload that is a JSON object (RFC 7519 §7.2). Claims are the caller's to check. No `crit`
 * extension is understood (§4.1.11), so a header with one is refused.
 */
export function verifyCompact(
  token: string,
  keyFor: (header: JwsHeader) => CryptoKey,
): { header: JwsHeader; payload: Record<string, unknown> } {
  const { header, signingInput, encodedPayload, encodedSignature } = splitCompact(token);
  const [digest, options] = signer(header.alg, keyObject(keyFor(header)));
  let valid: boolean;
  try {
    valid = verify(
      digest,
      Buffer.from(signingInput),
      options,
      Buffer.from(encodedSignature, 'base64url'),
    );
  } catch {
    valid = false;
  }
  if (!valid) throw new JwsRejected('signature');
  return { header, payload: jsonObject(encodedPayload) };
}

/**
 * The header and payload of a compact JWS whose signature the caller has already verified,
 * byte for byte the same token, with a key that is still published. Never for anything else.
 */
export function decodeVerifiedCompact(token: string): {
  header: JwsHeader;
  payload: Record<string, unknown>;
} {
  const { header, encodedPayload } = splitCompact(token);
  return { header, payload: jsonObject(encodedPayload) };
}

function splitCompact(token: string) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwsRejected('malformed');
  const [encodedHeader, encodedPayload, encodedSignature] = parts;
  const raw = jsonObject(encodedHeader);
  if (raw.crit !== undefined || typeof raw.alg !== 'string') throw new JwsRejected('malformed');
  const header: JwsHeader = {
    alg: raw.alg,
    kid: typeof raw.kid === 'string' ? raw.kid : undefined,
    typ: raw.typ,
  };
  return {
    header,
    signingInput: `${encodedHeader}.${encodedPayload}`,
    encodedPayload,
    encodedSignature,
  };
}
