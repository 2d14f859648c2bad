import type { MigrationInterface, QueryRunner } from 'typeorm';

/** RFC 8693 token exchange: clients an admin allows to impersonate (exchange without an actor). */
export class TokenExchange1796200000000 implements MigrationInterface {
  name = 'TokenExchange1796200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE clients ADD COLUMN may_impersonate boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE clients DROP COLUMN may_impersonate`);
  }
}
