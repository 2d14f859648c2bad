import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/** `?limit=&cursor=` of the admin list endpoints (keyset pagination on created_at, id). */
export class PageQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;

  @ApiPropertyOptional({ description: 'The next_cursor of the previous page.' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}

/**
 * The row's created_at as text with microseconds. A JS Date keeps only milliseconds, and a
 * cursor built from one would repeat rows across pages.
 */
export function cursorTimeSql(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** Only the form cursorTimeSql writes: Date.parse accepts strings PostgreSQL rejects. */
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

/** [createdAt, id] of a cursor this server wrote, or null for anything else. */
export function decodeCursor(
  cursor: string,
  isId: (id: string) => boolean,
): [string, string] | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      typeof value[1] === 'string' &&
      CURSOR_TIME.test(value[0]) &&
      !Number.isNaN(Date.parse(value[0])) &&
      isId(value[1])
    ) {
      return [value[0], value[1]];
    }
  } catch {
    // not base64url JSON: not ours
  }
  return null;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * One page of `qb` (aliased `alias`, with `created_at` and `id` columns) in creation order,
 * after `cursor`. `isId` checks the id inside a cursor; `invalid` makes the error for a cursor
 * this server did not write.
 */
export async function keysetPage<E extends ObjectLiteral & { id: string }, T>(
  qb: SelectQueryBuilder<E>,
  alias: string,
  request: { limit: number; cursor: string | undefined },
  isId: (id: string) => boolean,
  invalid: () => Error,
  map: (entity: E) => T,
): Promise<Page<T>> {
  qb.addSelect(cursorTimeSql(`${alias}.created_at`), 'cursor_at')
    .orderBy(`${alias}.created_at`, 'ASC')
    .addOrderBy(`${alias}.id`, 'ASC');
  if (request.cursor !== undefined) {
    const decoded = decodeCursor(request.cursor, isId);
    if (decoded === null) throw invalid();
    const [createdAt, id] = decoded;
    qb.where(`(${alias}.created_at, ${alias}.id) > (CAST(:createdAt AS timestamptz), :id)`, {
      createdAt,
      id,
    });
  }
  const { entities, raw } = await qb
    .limit(request.limit + 1)
    .getRawAndEntities<{ cursor_at: string }>();
  const page = entities.slice(0, request.limit);
  const last = page.at(-1);
  return {
    data: page.map(map),
    next_cursor:
      entities.length > request.limit && last
        ? encodeCursor(raw[page.length - 1].cursor_at, last.id)
        : null,
  };
}
