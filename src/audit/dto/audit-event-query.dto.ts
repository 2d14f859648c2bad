import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { PageQueryDto } from '../../common/pagination.js';

/** `GET /admin/audit-events` filters. All given filters must match (AND). */
export class AuditEventQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    description:
      'Event types, comma-separated; an entry ending in `.*` matches every type with that ' +
      'prefix. Example: `client.*,token.revoked`. At most 20 entries.',
    example: 'client.*,token.revoked',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  type?: string;

  @ApiPropertyOptional({ description: 'Who caused the event: a user id, client id or admin.' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  actor_id?: string;

  @ApiPropertyOptional({ description: 'The OAuth client the event concerns.' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  client_id?: string;

  @ApiPropertyOptional({ description: 'The user the event concerns.' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  user_id?: string;

  @ApiPropertyOptional({ description: 'The caller address, exactly as recorded.' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  ip?: string;

  @ApiPropertyOptional({ description: 'The X-Request-Id of the request that caused the event.' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  request_id?: string;

  @ApiPropertyOptional({
    description: 'RFC 3339 date-time; events at or after it.',
    example: '2026-01-01T00:00:00Z',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  since?: string;

  @ApiPropertyOptional({
    description: 'RFC 3339 date-time; events strictly before it.',
    example: '2026-02-01T00:00:00Z',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  until?: string;
}
