import type { MigrationInterface, QueryRunner } from 'typeorm';

/** RP-initiated logout: where a client may send the browser after sign-out. */
export class PostLogoutRedirects1795800000000 implements MigrationInterface {
  name = 'PostLogoutRedirects1795800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE clients ADD COLUMN post_logout_redirect_uris text[] NOT NULL DEFAULT '{}'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE clients DROP COLUMN post_logout_redirect_uris`);
  }
}
