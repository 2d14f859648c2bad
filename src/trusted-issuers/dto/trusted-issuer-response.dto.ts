import { ApiProperty } from '@nestjs/swagger';
import type { JSONWebKeySet } from 'jose';
import type { SubjectMapping } from '../entities/trusted-issuer.entity.js';

export class TrustedIssuerResponseDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() issuer: string;
  @ApiProperty({ nullable: true, type: String }) jwks_uri: string | null;
  @ApiProperty({ nullable: true, type: Object }) jwks: JSONWebKeySet | null;
  @ApiProperty({ type: [String] }) algorithms: string[];
  @ApiProperty({ enum: ['sub_link', 'verified_email', 'external'] })
  subject_mapping: SubjectMapping;
  @ApiProperty({ type: [String] }) allowed_client_ids: string[];
  @ApiProperty({ nullable: true, type: String }) audience: string | null;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class TrustedIssuerListResponseDto {
  @ApiProperty({ type: [TrustedIssuerResponseDto] }) data: TrustedIssuerResponseDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}

export class SubjectLinkResponseDto {
  @ApiProperty() issuer: string;
  @ApiProperty() subject: string;
  @ApiProperty({ format: 'uuid' }) user_id: string;
}
