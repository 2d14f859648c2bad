import { decodeCredentialPublicKey } from '@simplewebauthn/server/helpers';
import { createPublicKey, type JsonWebKey } from 'node:crypto';

/** RFC 9053 §7.1 (EC2), RFC 8230 §4 (RSA), RFC 9053 §7.2 (OKP) key parameters. */
const KTY = 1;
const CRV = -1;
const X = -2;
const Y = -3;
const RSA_N = -1;
const RSA_E = -2;
const EC2_CURVES: Readonly<Record<number, string>> = { 1: 'P-256', 2: 'P-384', 3: 'P-521' };
const OKP_CURVES: Readonly<Record<number, string>> = { 6: 'Ed25519', 7: 'Ed448' };

/**
 * Whether a registered credential's public key (COSE_Key) can verify assertions. With "none"
 * attestation nothing signs the key at registration, so a key cut short or altered on the way
 * would otherwise pass verification, be stored, and fail every sign-in after.
 */
export function isUsablePublicKey(publicKey: Uint8Array): boolean {
  try {
    const cose = decodeCredentialPublicKey(new Uint8Array(publicKey)) as unknown as ReadonlyMap<
      number,
      unknown
    >;
    createPublicKey({ key: toJwk(cose), format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}

function toJwk(cose: ReadonlyMap<number, unknown>): JsonWebKey {
  const bytes = (label: number): string => {
    const value = cose.get(label);
    if (!(value instanceof Uint8Array)) throw new Error(`COSE key parameter ${label} is missing`);
    return Buffer.from(value).toString('base64url');
  };
  const curve = (curves: Readonly<Record<number, string>>): string => {
    const crv = curves[Number(cose.get(CRV))];
    if (crv === undefined) throw new Error('unsupported COSE curve');
    return crv;
  };
  switch (cose.get(KTY)) {
    case 2:
      return { kty: 'EC', crv: curve(EC2_CURVES), x: bytes(X), y: bytes(Y) };
    case 1:
      return { kty: 'OKP', crv: curve(OKP_CURVES), x: bytes(X) };
    case 3:
      return { kty: 'RSA', n: bytes(RSA_N), e: bytes(RSA_E) };
    default:
      throw new Error('unsupported COSE key type');
  }
}
