import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsEmail,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  MaxLength,
} from 'class-validator';

export const SUPPORTED_GRANT_TYPES = [
  'client_credentials',
  'authorization_code',
  'refresh_token',
  'urn:ietf:params:oauth:grant-type:token-exchange',
] as const;
export const AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
  'none',
] as const;
/** RFC 6749 §3.3 scope-token. */
export const SCOPE_TOKEN_PATTERN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

export class CreateClientDto {
  @ApiProperty({ example: 'Reporting service', maxLength: 200 })
  @IsString()
  @Length(1, 200)
  client_name: string;

  @ApiPropertyOptional({ enum: ['confidential', 'public'], default: 'confidential' })
  @IsOptional()
  @IsIn(['confidential', 'public'])
  client_type?: 'confidential' | 'public';

  @ApiPropertyOptional({
    enum: AUTH_METHODS,
    description:
      'Defaults to client_secret_basic for confidential clients and none for public ones. private_key_jwt (RFC 7523) needs jwks or jwks_uri, and no secret is issued.',
  })
  @IsOptional()
  @IsIn(AUTH_METHODS)
  token_endpoint_auth_method?: (typeof AUTH_METHODS)[number];

  @ApiPropertyOptional({ type: [String], enum: SUPPORTED_GRANT_TYPES })
  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @IsIn(SUPPORTED_GRANT_TYPES, { each: true })
  grant_types?: string[];

  @ApiPropertyOptional({ type: [String], example: ['https://app.example.com/callback'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @ArrayUnique()
  @IsString({ each: true })
  @MaxLength(2000, { each: true })
  redirect_uris?: string[];

  @ApiPropertyOptional({
    type: [String],
    example: ['https://app.example.com/signed-out'],
    description: 'Where RP-initiated logout may send the browser afterwards (exact match).',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @ArrayUnique()
  @IsString({ each: true })
  @MaxLength(2000, { each: true })
  post_logout_redirect_uris?: string[];

  @ApiPropertyOptional({ type: [String], example: ['reports:read'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @ArrayUnique()
  @Matches(SCOPE_TOKEN_PATTERN, {
    each: true,
    message: 'each scope must be an RFC 6749 scope token',
  })
  allowed_scopes?: string[];

  @ApiPropertyOptional({
    type: [String],
    enum: ['user', 'admin'],
    description:
      'Makes the client a service account holding these roles: their permissions may then be requested through client_credentials.',
  })
  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @IsIn(['user', 'admin'], { each: true })
  service_account_roles?: string[];

  @ApiPropertyOptional({
    default: false,
    description:
      'Lets the client exchange a token without an actor token (RFC 8693 impersonation).',
  })
  @IsOptional()
  @IsBoolean()
  may_impersonate?: boolean;

  @ApiPropertyOptional({
    format: 'uuid',
    description: 'The user who owns this client, for audit attribution.',
  })
  @IsOptional()
  @IsUUID()
  owner_user_id?: string;

  @ApiPropertyOptional({ type: [String], example: ['ops@example.com'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @IsEmail({}, { each: true })
  contacts?: string[];

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  logo_uri?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  policy_uri?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  tos_uri?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Public keys (a JWK set) for private_key_jwt; not with jwks_uri.',
  })
  @IsOptional()
  @IsObject()
  jwks?: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'Where the keys for private_key_jwt are published (https).' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  jwks_uri?: string;
}
