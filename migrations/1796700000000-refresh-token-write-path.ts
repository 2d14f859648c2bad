import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every refresh inserts a refresh token and rewrites the rotated one, and each index on
 * refresh_tokens costs an entry on both. Nothing reads ix_refresh_tokens_expires_at any more:
 * the cleanup job finds a family's live token through the partial
 * ix_refresh_tokens_unrotated_expires_at, and tokens are looked up by hash. Dropping an unused
 * index is compatible with the previous release.
 */
export class RefreshTokenWritePath1796700000000 implements MigrationInterface {
  name = 'RefreshTokenWritePath1796700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ix_refresh_tokens_expires_at`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX ix_refresh_tokens_expires_at ON refresh_tokens (expires_at)`);
  }
}
