import type { AppConfig } from '../config/app-config.js';

/** The tables (and kinds of row) the cleanup job reports a count for. */
export const CLEANED = [
  'token_families',
  'refresh_tokens',
  'authorization_codes',
  'family_access_tokens',
  'revoked_jtis',
  'client_token_revocations',
  'client_assertion_jtis',
  'webauthn_challenges',
  'setup_tokens',
  'sessions',
  'anonymous_sessions',
  'initial_access_tokens',
] as const;

export type Cleaned = (typeof CLEANED)[number];

/**
 * One kind of expired row. `sql` deletes one batch of at most $1 rows, as one short statement
 * that locks only the rows it deletes (`FOR UPDATE SKIP LOCKED`, so it never waits for the hot
 * path), and returns one row: `examined`, the rows the batch picked ($1 means there may be more),
 * and the rows it removed per table, cascades included.
 */
export interface ExpiryRule {
  sql: string;
  /** $2, $3, …: the rule's margins, in seconds. */
  params: (config: AppConfig) => number[];
}

/**
 * How long past its expiry a row is kept, in seconds. It exceeds every clock tolerance
 * (5 s for access tokens, 30 s for client assertions), REVOCATION_RETAIN_SECONDS, and the
 * longest WebAuthn ceremony (900 s), so no check that could still pass ever loses its row.
 */
const GRACE_SECONDS = 3600;
/**
 * How long past its expiry a consumed authorization code is kept, in seconds, so that a replay
 * is still detected and revokes what the first redemption issued (RFC 6749 §4.1.2). It covers
 * the longest access-token lifetime a resource may set (86400 s). Refresh tokens of that grant
 * stay revocable after it through their own reuse detection, /oauth/revoke and sign-out.
 */
const CODE_REPLAY_MARGIN_SECONDS = 86_400;
/** Expired initial access tokens stay listed in the admin API for this long, in seconds. */
const INITIAL_ACCESS_TOKEN_RETAIN_SECONDS = 7 * 86_400;

/**
 * A token family `f` is dead when nothing in it can be used or needs revoking any more: its
 * live refresh token (the one unrotated member; every rotation inserts a successor with a later
 * expiry) has expired, its code is past the replay margin, every access token it issued has
 * expired, each by the grace period. Nothing can join a dead family either: new members come
 * from a live refresh token, a live code or (token exchange) a live access token of the family.
 *
 * Refresh tokens are deleted only with their dead family, never one by one. A rotated token
 * must stay while its family lives, because presenting it again is reuse and revokes the
 * family (refresh-tokens.service.ts) however old the rotated token itself is; once the family
 * is dead there is nothing left to revoke. The price is that a family refreshed for months
 * keeps its whole rotation chain until it ends.
 *
 * $2 = GRACE_SECONDS, $3 = CODE_REPLAY_MARGIN_SECONDS.
 */
const FAMILY_IS_DEAD = `(
  f.created_at < now() - make_interval(secs => $2)
  AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = f.id
    AND r.rotated_at IS NULL AND r.expires_at >= now() - make_interval(secs => $2))
  AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.family_id = f.id
    AND c.expires_at >= now() - make_interval(secs => $3))
  AND NOT EXISTS (SELECT 1 FROM family_access_tokens t WHERE t.family_id = f.id
    AND t.expires_at >= now() - make_interval(secs => $2)))`;

const familyParams = (): number[] => [GRACE_SECONDS, CODE_REPLAY_MARGIN_SECONDS];

/**
 * Whether the family of member `m` is dead (or, negated, alive), as a check made once per
 * candidate member. OFFSET 0 keeps the planner from turning it into a join or a hashed subplan
 * over the whole of token_families and its members, which would cost every batch a scan of
 * the tables instead of a few index probes per candidate.
 */
const familyOfMember = (state: 'dead' | 'alive'): string => `EXISTS (
  SELECT 1 FROM token_families f
  WHERE f.id = m.family_id AND ${state === 'dead' ? '' : 'NOT '}${FAMILY_IS_DEAD}
  OFFSET 0)`;

/**
 * Dead families, found through one kind of expired member `m` (an index range scan on its
 * expiry), deleted with everything in them (ON DELETE CASCADE). Every family has a member of
 * one of the three kinds until it is deleted: member rules below never take a family's last
 * witness of life, so no family is left unreachable. A family picked dead stays dead, so it
 * may be locked after the check.
 */
function deadFamilies(members: string, expired: string): ExpiryRule {
  return {
    sql: `WITH picked AS MATERIALIZED (
        SELECT m.family_id FROM ${members} m
        WHERE ${expired} AND ${familyOfMember('dead')}
        LIMIT $1
      ), doomed AS (
        SELECT id FROM token_families WHERE id IN (SELECT family_id FROM picked)
        FOR UPDATE SKIP LOCKED
      ), gone AS (
        DELETE FROM token_families WHERE id IN (SELECT id FROM doomed) RETURNING id
      )
      SELECT (SELECT count(*) FROM picked)::int AS examined,
        (SELECT count(*) FROM gone)::int AS token_families,
        (SELECT count(*) FROM refresh_tokens WHERE family_id IN (SELECT id FROM gone))::int
          AS refresh_tokens,
        (SELECT count(*) FROM authorization_codes WHERE family_id IN (SELECT id FROM gone))::int
          AS authorization_codes,
        (SELECT count(*) FROM family_access_tokens WHERE family_id IN (SELECT id FROM gone))::int
          AS family_access_tokens`,
    params: familyParams,
  };
}

/**
 * Expired members of families that are still alive: past the margin they are of no use (a
 * family revocation skips expired access tokens; an old code is no longer checked for replay),
 * and a long-lived family would otherwise collect one row per access token it ever issued.
 */
function expiredMembersOfLiveFamilies(table: string, key: string, expired: string): ExpiryRule {
  return {
    sql: `WITH doomed AS (
        SELECT m.${key} FROM ${table} m
        WHERE ${expired} AND ${familyOfMember('alive')}
        LIMIT $1 FOR UPDATE SKIP LOCKED
      ), gone AS (
        DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM doomed) RETURNING 1
      )
      SELECT (SELECT count(*) FROM doomed)::int AS examined,
        (SELECT count(*) FROM gone)::int AS ${table}`,
    params: familyParams,
  };
}

interface ExpiredRows {
  table: string;
  /** The primary key's columns. */
  key: string[];
  where: string;
  params: (config: AppConfig) => number[];
  /** The name its count goes under; the table's by default. */
  reportAs?: Cleaned;
  /** More output columns: rows deleted with these through ON DELETE CASCADE. */
  cascades?: string;
}

/** Rows of one table past a margin, with no lineage to respect. */
function expiredRows(rows: ExpiredRows): ExpiryRule {
  const columns = rows.key.join(', ');
  return {
    sql: `WITH doomed AS (
        SELECT ${columns} FROM ${rows.table} WHERE ${rows.where}
        LIMIT $1 FOR UPDATE SKIP LOCKED
      ), gone AS (
        DELETE FROM ${rows.table} WHERE (${columns}) IN (SELECT ${columns} FROM doomed)
        RETURNING ${columns}
      )
      SELECT (SELECT count(*) FROM doomed)::int AS examined,
        (SELECT count(*) FROM gone)::int AS ${rows.reportAs ?? rows.table}${rows.cascades ?? ''}`,
    params: rows.params,
  };
}

const PAST_GRACE = `expires_at < now() - make_interval(secs => $2)`;
const grace = (): number[] => [GRACE_SECONDS];

/** In order: families before their members, so a dead family goes whole. */
export const EXPIRY_RULES: readonly ExpiryRule[] = [
  deadFamilies(
    'refresh_tokens',
    `m.rotated_at IS NULL AND m.expires_at < now() - make_interval(secs => $2)`,
  ),
  deadFamilies('authorization_codes', `m.expires_at < now() - make_interval(secs => $3)`),
  deadFamilies('family_access_tokens', `m.expires_at < now() - make_interval(secs => $2)`),
  expiredMembersOfLiveFamilies(
    'authorization_codes',
    'code_hash',
    `m.expires_at < now() - make_interval(secs => $3)`,
  ),
  expiredMembersOfLiveFamilies(
    'family_access_tokens',
    'jti',
    `m.expires_at < now() - make_interval(secs => $2)`,
  ),
  // A revoked jti past its token's exp: verification refuses the token as expired by then.
  expiredRows({ table: 'revoked_jtis', key: ['jti'], where: PAST_GRACE, params: grace }),
  // A client's cutoff past the expiry of the last token it covers (admin revoke-tokens, delete).
  expiredRows({
    table: 'client_token_revocations',
    key: ['client_id'],
    where: PAST_GRACE,
    params: grace,
  }),
  // RFC 7523 §3: a jti only needs remembering while its assertion could still be accepted.
  expiredRows({
    table: 'client_assertion_jtis',
    key: ['client_id', 'jti'],
    where: PAST_GRACE,
    params: grace,
  }),
  expiredRows({ table: 'webauthn_challenges', key: ['id'], where: PAST_GRACE, params: grace }),
  // Deleting a link cascades to ceremonies begun with it, which have expired before it.
  expiredRows({
    table: 'setup_tokens',
    key: ['id'],
    where: PAST_GRACE,
    params: grace,
    cascades: `, (SELECT count(*) FROM webauthn_challenges
        WHERE setup_token_id IN (SELECT id FROM gone))::int AS webauthn_challenges`,
  }),
  // No foreign key points at sessions: token families and codes keep a session id only to
  // revoke by it, which works as well without the row; a new family needs a live session.
  expiredRows({ table: 'sessions', key: ['id'], where: PAST_GRACE, params: grace }),
  // An anonymous session has no cookie: only the access token minted with it names it, so it
  // is of no use once that token has expired, long before the session's own expiry.
  expiredRows({
    table: 'sessions',
    key: ['id'],
    where: `user_id IS NULL AND created_at < now() - make_interval(secs => $2)`,
    params: (config) => [config.sessions.anonymousTokenTtlSeconds + GRACE_SECONDS],
    reportAs: 'anonymous_sessions',
  }),
  expiredRows({
    table: 'initial_access_tokens',
    key: ['id'],
    where: PAST_GRACE,
    params: () => [INITIAL_ACCESS_TOKEN_RETAIN_SECONDS],
  }),
];
