import { CompactSign, generateKeyPair, type CryptoKey } from 'jose';
import type { AppConfig } from '../config/app-config.js';
import { signCompact } from './jws.js';
import { AccessTokensService, type AccessTokenClaims } from './access-tokens.service.js';
import type { RevocationListService } from './revocation-list.service.js';
import type { SigningKeysService } from './signing-keys.service.js';
import type { TokenFamiliesService } from './token-families.service.js';

const ISSUER = 'https://issuer.example';

describe('AccessTokensService.verify', () => {
  let service: AccessTokensService;
  let privateKey: CryptoKey;
  let idTokenKey: CryptoKey;
  const revoked = new Set<string>();
  /** client id → tokens issued at or before this second are revoked. */
  const clientCutoffs = new Map<string, number>();
  let published: Map<string, { kid: string; alg: string; use: string; publicKey: CryptoKey }>;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const other = await generateKeyPair('RS256');
    idTokenKey = other.privateKey;
    published = new Map([
      ['at1', { kid: 'at1', alg: 'ES256', use: 'access_token', publicKey: pair.publicKey }],
      ['id1', { kid: 'id1', alg: 'RS256', use: 'id_token', publicKey: other.publicKey }],
    ]);
    const keys = {
      activeKey: () => ({ kid: 'at1', alg: 'ES256', privateKey }),
      publicKey: (kid: string) => published.get(kid),
    } as unknown as SigningKeysService;
    const revocations = {
      isRevoked: (jti: string) => revoked.has(jti),
      isRevokedForClient: (clientId: string, iat: number) =>
        iat <= (clientCutoffs.get(clientId) ?? -Infinity),
    };
    service = new AccessTokensService(
      { issuer: ISSUER, tokens: { accessTokenTtlSeconds: 300 } } as unknown as AppConfig,
      keys,
      revocations as unknown as RevocationListService,
      {} as TokenFamiliesService,
    );
  });

  function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: ISSUER,
      sub: 'client-1',
      aud: 'https://api.example',
      exp: now + 300,
      iat: now,
      jti: `j-${Math.random()}`,
      client_id: 'client-1',
      scope: 'reports:read',
      ...overrides,
    };
  }

  async function sign(
    payload: Record<string, unknown>,
    header: Record<string, unknown> = {},
    key: CryptoKey = privateKey,
  ): Promise<string> {
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'ES256', kid: 'at1', typ: 'at+jwt', ...header })
      .sign(key);
  }

  async function reason(token: string, audience?: string): Promise<string> {
    const err = await service.verify(token, { audience }).then(
      () => 'accepted',
      (e: { reason?: string }) => e.reason ?? 'no reason',
    );
    return err;
  }

  it('accepts what it issued, with the claims it signed', async () => {
    const issued = await service.issue({
      subject: 'client-1',
      clientId: 'client-1',
      audience: 'https://api.example',
      scope: 'reports:read',
    });
    const verified: AccessTokenClaims = await service.verify(issued.token, {
      audience: 'https://api.example',
    });
    expect(verified).toEqual(issued.claims);
  });

  it('accepts a token a JOSE library signed, with typ application/at+jwt and an audience list', async () => {
    const token = await sign(claims({ aud: ['x', 'https://api.example'] }), {
      typ: 'application/AT+JWT',
    });
    expect(await reason(token, 'https://api.example')).toBe('accepted');
  });

  it.each([
    ['a wrong typ', claims(), { typ: 'JWT' }, 'type'],
    ['no typ', claims(), { typ: undefined }, 'type'],
    ['another issuer', claims({ iss: 'https://evil.example' }), {}, 'issuer'],
    ['no issuer', claims({ iss: undefined }), {}, 'issuer'],
    ['another audience', claims({ aud: 'https://other.example' }), {}, 'audience'],
    ['no audience', claims({ aud: undefined }), {}, 'audience'],
    ['no jti', claims({ jti: undefined }), {}, 'malformed'],
    ['a string exp', claims({ exp: 'soon' }), {}, 'malformed'],
    ['an exp in the past', claims({ exp: Math.floor(Date.now() / 1000) - 60 }), {}, 'expired'],
    ['an nbf in the future', claims({ nbf: Math.floor(Date.now() / 1000) + 600 }), {}, 'malformed'],
    ['an unknown kid', claims(), { kid: 'nope' }, 'signature'],
  ])('refuses a token with %s', async (_, payload, header, expected) => {
    const cleaned = JSON.parse(JSON.stringify(payload)) as Record<string, unknown>;
    expect(await reason(await sign(cleaned, header), 'https://api.example')).toBe(expected);
  });

  it('refuses a token with a crit header (no extension is understood)', async () => {
    // A JOSE library will not sign one with an extension it does not know either.
    const header = { alg: 'ES256', kid: 'at1', typ: 'at+jwt', crit: ['exp'], exp: 1 };
    const token = signCompact(header, claims(), privateKey);
    expect(await reason(token)).toBe('malformed');
  });

  it('refuses a signature by another key, and the ID-token key for an access token', async () => {
    const { privateKey: stranger } = await generateKeyPair('ES256');
    expect(await reason(await sign(claims(), {}, stranger))).toBe('signature');
    const idSigned = await sign(claims(), { alg: 'RS256', kid: 'id1' }, idTokenKey);
    expect(await reason(idSigned)).toBe('signature');
  });

  it('refuses alg none and a header naming another algorithm than its key', async () => {
    const body = Buffer.from(JSON.stringify(claims())).toString('base64url');
    const none = Buffer.from(JSON.stringify({ alg: 'none', kid: 'at1', typ: 'at+jwt' }));
    expect(await reason(`${none.toString('base64url')}.${body}.AAAA`)).toBe('signature');
    const [, payload, signature] = (await sign(claims())).split('.');
    const swapped = Buffer.from(JSON.stringify({ alg: 'ES384', kid: 'at1', typ: 'at+jwt' }));
    expect(await reason(`${swapped.toString('base64url')}.${payload}.${signature}`)).toBe(
      'signature',
    );
  });

  it('refuses a tampered payload', async () => {
    const [header, , signature] = (await sign(claims())).split('.');
    const other = Buffer.from(JSON.stringify(claims({ scope: 'admin' }))).toString('base64url');
    expect(await reason(`${header}.${other}.${signature}`)).toBe('signature');
    expect(await reason('not.a-jwt')).toBe('malformed');
  });

  it('refuses a revoked token and accepts an expired one only when asked to', async () => {
    const expired = await sign(claims({ exp: Math.floor(Date.now() / 1000) - 60 }));
    await expect(service.verify(expired, { allowExpired: true })).resolves.toMatchObject({
      client_id: 'client-1',
    });
    const payload = claims();
    revoked.add(payload.jti as string);
    expect(await reason(await sign(payload))).toBe('revoked');
  });

  describe('a token verified before', () => {
    it('is still refused once revoked, or past its expiry', async () => {
      const payload = claims();
      const token = await sign(payload);
      expect(await reason(token)).toBe('accepted');
      revoked.add(payload.jti as string);
      expect(await reason(token)).toBe('revoked');

      const expired = await sign(claims({ exp: Math.floor(Date.now() / 1000) - 60 }));
      await expect(service.verify(expired, { allowExpired: true })).resolves.toBeDefined();
      expect(await reason(expired)).toBe('expired');
    });

    it('is refused once its key leaves the published set or is replaced', async () => {
      const token = await sign(claims());
      expect(await reason(token)).toBe('accepted');
      const entry = published.get('at1');
      if (entry === undefined) throw new Error('no key');
      try {
        published.delete('at1');
        expect(await reason(token)).toBe('signature');
        // A reload replaces entries: another key under the same kid does not verify it.
        const stranger = await generateKeyPair('ES256');
        published.set('at1', { ...entry, publicKey: stranger.publicKey });
        expect(await reason(token)).toBe('signature');
      } finally {
        published.set('at1', entry);
      }
      expect(await reason(token)).toBe('accepted');
    });

    it('does not vouch for a token that differs in its signature only', async () => {
      const token = await sign(claims());
      expect(await reason(token)).toBe('accepted');
      const [header, payload, signature] = token.split('.');
      const flipped = signature.startsWith('A')
        ? `B${signature.slice(1)}`
        : `A${signature.slice(1)}`;
      expect(await reason(`${header}.${payload}.${flipped}`)).toBe('signature');
    });
  });

  it("refuses a client's tokens issued up to its revocation cutoff, also once verified", async () => {
    const now = Math.floor(Date.now() / 1000);
    const before = await sign(claims({ sub: 'client-9', client_id: 'client-9', iat: now - 10 }));
    const after = await sign(claims({ sub: 'client-9', client_id: 'client-9', iat: now + 1 }));
    expect(await reason(before)).toBe('accepted');
    clientCutoffs.set('client-9', now);
    try {
      expect(await reason(before)).toBe('revoked');
      expect(await reason(after)).toBe('accepted');
    } finally {
      clientCutoffs.delete('client-9');
    }
  });
});
