import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import {
  MAX_RESOURCE_TOKEN_TTL_SECONDS,
  MIN_RESOURCE_TOKEN_TTL_SECONDS,
} from '../resource-server.js';

/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

export class CreateResourceDto {
  @ApiProperty({
    example: 'https://reports.example.com/api',
    description:
      'The RFC 8707 resource indicator: an absolute https URI (http only on a loopback host), without fragment. Stored normalized; it cannot change later.',
  })
  @IsString()
  @MaxLength(2048)
  identifier: string;

  @ApiProperty({ example: 'Reports API', maxLength: 200 })
  @IsString()
  @Length(1, 200)
  name: string;

  @ApiPropertyOptional({
    type: [String],
    example: ['reports:read', 'reports:write'],
    description:
      'The scopes this API defines. Tokens for it carry only these (plus OIDC scopes). OIDC scopes and the user-tier user/admin are reserved.',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @ArrayUnique()
  @Matches(SCOPE_TOKEN_PATTERN, {
    each: true,
    message: 'each scope must be an RFC 6749 scope token',
  })
  scopes?: string[];

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: MIN_RESOURCE_TOKEN_TTL_SECONDS,
    maximum: MAX_RESOURCE_TOKEN_TTL_SECONDS,
    description: 'Access-token lifetime for this API, in seconds; null = the server default.',
  })
  @IsOptional()
  @IsInt()
  @Min(MIN_RESOURCE_TOKEN_TTL_SECONDS)
  @Max(MAX_RESOURCE_TOKEN_TTL_SECONDS)
  access_token_ttl_seconds?: number | null;
}
