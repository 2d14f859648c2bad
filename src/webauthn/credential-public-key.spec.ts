import { isoCBOR } from '@simplewebauthn/server/helpers';
import { generateKeyPairSync } from 'node:crypto';
import { isUsablePublicKey } from './credential-public-key.js';

function coseKey(entries: [number, number | Uint8Array][]): Uint8Array {
  return isoCBOR.encode(new Map<number, number | Uint8Array>(entries));
}

describe(isUsablePublicKey.name, () => {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    format: 'jwk',
  });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  const y = Buffer.from(jwk.y ?? '', 'base64url');

  it('accepts an EC2 P-256 key', () => {
    expect(
      isUsablePublicKey(
        coseKey([
          [1, 2],
          [3, -7],
          [-1, 1],
          [-2, x],
          [-3, y],
        ]),
      ),
    ).toBe(true);
  });

  it('refuses a coordinate cut short, a point off the curve and a missing coordinate', () => {
    const offCurve = Buffer.from(y);
    offCurve[31] ^= 0x01;
    expect(
      isUsablePublicKey(
        coseKey([
          [1, 2],
          [3, -7],
          [-1, 1],
          [-2, x],
          [-3, y.subarray(0, 20)],
        ]),
      ),
    ).toBe(false);
    expect(
      isUsablePublicKey(
        coseKey([
          [1, 2],
          [3, -7],
          [-1, 1],
          [-2, x],
          [-3, offCurve],
        ]),
      ),
    ).toBe(false);
    expect(
      isUsablePublicKey(
        coseKey([
          [1, 2],
          [3, -7],
          [-1, 1],
          [-2, x],
        ]),
      ),
    ).toBe(false);
  });

  it('refuses unknown key types and curves, and bytes that are not CBOR', () => {
    expect(
      isUsablePublicKey(
        coseKey([
          [1, 9],
          [3, -7],
          [-1, 1],
          [-2, x],
          [-3, y],
        ]),
      ),
    ).toBe(false);
    expect(
      isUsablePublicKey(
        coseKey([
          [1, 2],
          [3, -7],
          [-1, 42],
          [-2, x],
          [-3, y],
        ]),
      ),
    ).toBe(false);
    expect(isUsablePublicKey(new Uint8Array([0xff, 0x00, 0x13]))).toBe(false);
  });
});
