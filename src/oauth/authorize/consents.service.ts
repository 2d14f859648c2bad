import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** Remembered consent: which scopes a user granted a client. A later request for a subset needs no new consent. */
@Injectable()
export class ConsentsService {
  constructor(private readonly dataSource: DataSource) {}

  async covers(userId: string, clientId: string, scopes: readonly string[]): Promise<boolean> {
    const rows = await this.dataSource.query<{ scopes: string[] }[]>(
      `SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2`,
      [userId, clientId],
    );
    const granted = new Set(rows[0]?.scopes ?? []);
    return rows.length > 0 && scopes.every((scope) => granted.has(scope));
  }

  /** Records consent to `scopes`, adding to what was granted before. */
  async grant(userId: string, clientId: string, scopes: readonly string[]): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO consents (user_id, client_id, scopes) VALUES ($1, $2, $3)
       ON CONFLICT (user_id, client_id) DO UPDATE SET
         scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || EXCLUDED.scopes) ORDER BY 1),
         updated_at = now()`,
      [userId, clientId, [...scopes].sort()],
    );
  }
}
