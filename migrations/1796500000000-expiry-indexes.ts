import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes the expired-data cleanup job (src/lifecycle/) needs so that each of its batches is a
 * short index range scan rather than a sequential scan of a hot table:
 * - the expiry of every table it deletes from by expiry and that had none;
 * - a family's live refresh token (its one unrotated token), whose expiry ends the family;
 * - anonymous sessions by age, since only their short-lived token ever uses them;
 * - the foreign keys a deleted family or setup link cascades through, which PostgreSQL does not
 *   index by itself (authorization_codes.family_id, webauthn_challenges.setup_token_id).
 */
export class ExpiryIndexes1796500000000 implements MigrationInterface {
  name = 'ExpiryIndexes1796500000000';

  async up(q: QueryRunner): Promise<void> {
    for (const [name, definition] of INDEXES)
      await q.query(`CREATE INDEX ${name} ON ${definition}`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [name] of [...INDEXES].reverse()) await q.query(`DROP INDEX ${name}`);
  }
}

const INDEXES: readonly (readonly [string, string])[] = [
  ['ix_family_access_tokens_expires_at', 'family_access_tokens (expires_at)'],
  ['ix_setup_tokens_expires_at', 'setup_tokens (expires_at)'],
  ['ix_initial_access_tokens_expires_at', 'initial_access_tokens (expires_at)'],
  [
    'ix_refresh_tokens_unrotated_expires_at',
    'refresh_tokens (expires_at) WHERE rotated_at IS NULL',
  ],
  ['ix_sessions_anonymous_created_at', 'sessions (created_at) WHERE user_id IS NULL'],
  ['ix_authorization_codes_family_id', 'authorization_codes (family_id)'],
  [
    'ix_webauthn_challenges_setup_token_id',
    'webauthn_challenges (setup_token_id) WHERE setup_token_id IS NOT NULL',
  ],
];
