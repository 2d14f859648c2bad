import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefixes of the opaque secrets Latchkey issues (ARCHITECTURE.md, Tokens and secrets). */
export const SECRET_PREFIX = {
  refreshToken: 'lk_rt_',
  authorizationCode: 'lk_ac_',
  clientSecret: 'lk_cs_',
  registrationAccessToken: 'lk_rat_',
  initialAccessToken: 'lk_iat_',
  setupToken: 'lk_st_',
  sessionId: 'lk_sid_',
} as const;

export type SecretPrefix = (typeof SECRET_PREFIX)[keyof typeof SECRET_PREFIX];

/** 256 random bits, base64url, behind a type prefix. */
export function generateSecret(prefix: SecretPrefix): string {
  return prefix + randomBytes(32).toString('base64url');
}

/**
 * CSPRNG output fetched in blocks and handed out once each, as node:crypto's randomUUID does:
 * one getrandom call per 256 identifiers instead of one per token issued (a `jti` per token).
 */
const ID_POOL_SIZE = 4096;
let idPool = Buffer.alloc(0);
let idPoolOffset = 0;

/** Random identifier, 128 bits by default, base64url. */
export function randomId(bytes = 16): string {
  if (bytes > ID_POOL_SIZE / 4) return randomBytes(bytes).toString('base64url');
  if (idPoolOffset + bytes > idPool.length) {
    idPool = randomBytes(ID_POOL_SIZE);
    idPoolOffset = 0;
  }
  const start = idPoolOffset;
  idPoolOffset += bytes;
  return idPool.toString('base64url', start, idPoolOffset);
}

/** SHA-256, base64url: how every opaque secret is stored. */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/**
 * Constant-time comparison of two strings. Comparing digests keeps the time independent of
 * where the inputs differ and of their lengths.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** Checks a presented secret against its stored SHA-256 hash in constant time. */
export function secretMatchesHash(secret: string, storedHash: string): boolean {
  const presented = createHash('sha256').update(secret).digest();
  const stored = Buffer.from(storedHash, 'base64url');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a value can name a uuid row: checked before a query, so a malformed id is a 404, not a 500. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
