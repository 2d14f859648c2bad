import { ApiProperty } from '@nestjs/swagger';

export class KeyResponseDto {
  @ApiProperty() kid: string;
  @ApiProperty({ enum: ['access_token', 'id_token'] }) use: string;
  @ApiProperty({ example: 'ES256' }) alg: string;
  @ApiProperty({ enum: ['pending', 'active', 'retired'] }) state: string;
  @ApiProperty() created_at: string;
  @ApiProperty({ description: 'When a pending key starts signing.' }) activate_at: string;
  @ApiProperty({ nullable: true, type: String }) retired_at: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'When a retired key leaves the JWKS.' })
  expires_at: string | null;
}

export class KeyListResponseDto {
  @ApiProperty({ type: [KeyResponseDto] }) data: KeyResponseDto[];
}
