import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What refresh needs that the people migration did not keep:
 * - token_families.auth_time / amr: OIDC Core §12.2 says an ID token issued on refresh carries
 *   the time (and methods) of the original authentication, so the family remembers them.
 * - refresh_tokens.successor_enc: the successor token, encrypted under a key derived from this
 *   token's own plaintext, so a retry inside the reuse grace window can be answered with the
 *   family's current token instead of minting a second live one.
 */
export class TokenLineage1795600000000 implements MigrationInterface {
  name = 'TokenLineage1795600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE token_families
        ADD COLUMN auth_time timestamptz,
        ADD COLUMN amr text[] NOT NULL DEFAULT '{}'`);
    await q.query(`ALTER TABLE refresh_tokens ADD COLUMN successor_enc text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE refresh_tokens DROP COLUMN successor_enc`);
    await q.query(`ALTER TABLE token_families DROP COLUMN amr, DROP COLUMN auth_time`);
  }
}
