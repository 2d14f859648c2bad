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
