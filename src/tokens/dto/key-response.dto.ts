import { ApiProperty } from '@nestjs/swagger';

export class KeyResponseDto {
  @ApiProperty() kid: string;
  @ApiProperty({ enum: ['access_token', 'id_token'] }) use: string;
  @ApiProperty({ example: 'ES256' }) alg: string;
  @ApiProperty({
    enum: ['pending', 'active', 'retired', 'revoked'],
    description: '`revoked`: taken out of the JWKS early by an admin; its tokens no longer verify.',
  })
  state: string;
  @ApiProperty() created_at: string;
  @ApiProperty({ description: 'When a pending key starts signing.' }) activate_at: string;
  @ApiProperty({ nullable: true, type: String }) retired_at: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'When a retired key leaves the JWKS.' })
  expires_at: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'When an admin revoked the key.' })
  revoked_at: string | null;
}

export class KeyListResponseDto {
  @ApiProperty({ type: [KeyResponseDto] }) data: KeyResponseDto[];
}

export class KeyRevocationResponseDto {
  @ApiProperty({ type: KeyResponseDto, description: 'The revoked key.' }) revoked: KeyResponseDto;
  @ApiProperty({
    type: KeyResponseDto,
    nullable: true,
    description: 'The key that signs in its place, when the revoked key was the active one.',
  })
  replacement: KeyResponseDto | null;
}
