import { compactVerify, generateKeyPair, type CryptoKey } from 'jose';
import { signCompact } from './jws.js';

describe('signCompact', () => {
  const claims = { iss: 'https://issuer.example', sub: 'user-1', scope: 'openid', exp: 2 };

  it.each(['ES256', 'EdDSA', 'RS256', 'PS256'])(
    'makes an RFC 7515 compact JWS that a JOSE library verifies (%s)',
    async (alg) => {
      const { publicKey, privateKey } = await generateKeyPair(alg);
      const token = signCompact({ alg, kid: 'k1', typ: 'at+jwt' }, claims, privateKey);
      const { payload, protectedHeader } = await compactVerify(token, publicKey);
      expect(protectedHeader).toEqual({ alg, kid: 'k1', typ: 'at+jwt' });
      expect(JSON.parse(new TextDecoder().decode(payload))).toEqual(claims);
    },
  );

  it('signs ES256 as R || S (64 octets), not DER', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = signCompact({ alg: 'ES256', kid: 'k1', typ: 'JWT' }, claims, privateKey);
    expect(Buffer.from(token.split('.')[2], 'base64url')).toHaveLength(64);
  });

  it('is refused by the key of another signer', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const other: CryptoKey = (await generateKeyPair('ES256')).publicKey;
    const token = signCompact({ alg: 'ES256', kid: 'k1', typ: 'JWT' }, claims, privateKey);
    await expect(compactVerify(token, other)).rejects.toThrow();
  });

  it('refuses an algorithm it does not implement', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    expect(() => signCompact({ alg: 'HS256', kid: 'k1', typ: 'JWT' }, claims, privateKey)).toThrow(
      'unsupported JWS algorithm HS256',
    );
  });
});
