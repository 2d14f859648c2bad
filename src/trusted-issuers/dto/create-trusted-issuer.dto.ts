import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  Length,
  MaxLength,
} from 'class-validator';
import type { JSONWebKeySet } from 'jose';
import type { SubjectMapping } from '../entities/trusted-issuer.entity.js';

export const SUBJECT_MAPPINGS: readonly SubjectMapping[] = [
  'sub_link',
  'verified_email',
  'external',
];

export class CreateTrustedIssuerDto {
  @ApiProperty({
    example: 'https://login.partner.example',
    description:
      'The `iss` of the tokens, compared exactly: https (http only on a loopback host), no query, fragment or credentials. It cannot change later.',
  })
  @IsString()
  @MaxLength(2048)
  issuer: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: 'Where the issuer publishes its keys (https). Exactly one of jwks_uri and jwks.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  jwks_uri?: string | null;

  @ApiPropertyOptional({
    type: Object,
    nullable: true,
    description: 'The issuer keys inline: a JWK set of asymmetric public keys.',
  })
  @IsOptional()
  @IsObject()
  jwks?: JSONWebKeySet | null;

  @ApiProperty({
    type: [String],
    example: ['ES256'],
    description:
      'Accepted signing algorithms: a non-empty subset of ES256, ES384, EdDSA, RS256, PS256.',
  })
  @IsArray()
  @ArrayMaxSize(5)
  @ArrayUnique()
  @IsString({ each: true })
  algorithms: string[];

  @ApiProperty({
    enum: SUBJECT_MAPPINGS,
    description:
      'sub_link: the subject must be linked to a local user; verified_email: the verified `email` claim names a local user; external: no local user.',
  })
  @IsIn(SUBJECT_MAPPINGS)
  subject_mapping: SubjectMapping;

  @ApiPropertyOptional({
    type: [String],
    description: 'Clients that may exchange this issuer’s tokens; empty = none.',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @ArrayUnique()
  @IsString({ each: true })
  @Length(1, 255, { each: true })
  allowed_client_ids?: string[];

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: 'The `aud` the tokens must carry; null = this server’s issuer.',
  })
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  audience?: string | null;
}
