import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A registration ceremony started from a setup link remembers that link, so completing it
 * consumes exactly the link it began with: a link replaced while the ceremony was in flight
 * can no longer enroll a passkey, and the replacement stays usable.
 */
export class EnrollmentChallenges1795700000000 implements MigrationInterface {
  name = 'EnrollmentChallenges1795700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE webauthn_challenges
        ADD COLUMN setup_token_id uuid,
        ADD CONSTRAINT fk_webauthn_challenges_setup_token FOREIGN KEY (setup_token_id)
          REFERENCES setup_tokens (id) ON DELETE CASCADE`);
    await q.query(`CREATE INDEX ix_setup_tokens_user_id ON setup_tokens (user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ix_setup_tokens_user_id`);
    await q.query(`ALTER TABLE webauthn_challenges DROP COLUMN setup_token_id`);
  }
}
