import type { MigrationInterface, QueryRunner } from 'typeorm';

const TABLES = ['authorization_codes', 'refresh_tokens'];

/**
 * RFC 8707 §2.1: an authorization request may name several resources, and the grant covers all
 * of them. Codes and refresh tokens keep the set; each access token is for one of them.
 */
export class GrantResources1796100000000 implements MigrationInterface {
  name = 'GrantResources1796100000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of TABLES) {
      await q.query(`ALTER TABLE ${table} ADD COLUMN resources text[] NOT NULL DEFAULT '{}'`);
      await q.query(`UPDATE ${table} SET resources = ARRAY[resource] WHERE resource IS NOT NULL`);
      await q.query(`ALTER TABLE ${table} DROP COLUMN resource`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of TABLES) {
      await q.query(`ALTER TABLE ${table} ADD COLUMN resource text`);
      // A grant of several resources keeps its first one: the old schema held only one.
      await q.query(`UPDATE ${table} SET resource = resources[1]`);
      await q.query(`ALTER TABLE ${table} DROP COLUMN resources`);
    }
  }
}
