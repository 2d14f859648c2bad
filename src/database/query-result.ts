import type { ObjectLiteral, QueryDeepPartialEntity, Repository } from 'typeorm';

/**
 * TypeORM's postgres driver returns `[rows, rowCount]` for UPDATE and DELETE and plain rows for
 * everything else. This reads the rows of either shape.
 */
export function returnedRows<T>(result: unknown): T[] {
  if (
    Array.isArray(result) &&
    result.length === 2 &&
    Array.isArray(result[0]) &&
    typeof result[1] === 'number'
  ) {
    return result[0] as T[];
  }
  return Array.isArray(result) ? (result as T[]) : [];
}

/**
 * Inserts the row unless one with the same unique key exists (one statement, no read first).
 * False when it already existed, so the caller can answer 409.
 */
export async function insertIfAbsent<E extends ObjectLiteral>(
  repository: Repository<E>,
  row: QueryDeepPartialEntity<E>,
): Promise<boolean> {
  const inserted = await repository
    .createQueryBuilder()
    .insert()
    .values(row)
    .orIgnore()
    .returning(['id'])
    .execute();
  return returnedRows(inserted.raw).length > 0;
}
