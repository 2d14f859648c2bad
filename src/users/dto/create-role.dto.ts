import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
} from 'class-validator';
import { ROLE_NAME_PATTERN } from './create-user.dto.js';

/** RFC 6749 §3.3 scope-token: a permission is a scope a role's holders may be granted. */
const PERMISSION_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

export class CreateRoleDto {
  @ApiProperty({ example: 'billing-reader', pattern: ROLE_NAME_PATTERN.source })
  @IsString()
  @Matches(ROLE_NAME_PATTERN)
  name: string;

  @ApiPropertyOptional({ maxLength: 500, default: '' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiProperty({ type: [String], example: ['invoices:read'] })
  @IsArray()
  @ArrayMaxSize(200)
  @ArrayUnique()
  @IsString({ each: true })
  @Matches(PERMISSION_PATTERN, { each: true })
  permissions: string[];
}
