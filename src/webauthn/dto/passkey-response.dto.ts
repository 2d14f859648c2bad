import { ApiProperty } from '@nestjs/swagger';

export class PasskeyResponseDto {
  @ApiProperty({ description: 'The WebAuthn credential id, base64url.' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ['singleDevice', 'multiDevice'] }) device_type: string;
  @ApiProperty({ description: 'Whether the passkey is synced (backup state).' }) backed_up: boolean;
  @ApiProperty({ type: [String] }) transports: string[];
  @ApiProperty({ nullable: true, type: String }) aaguid: string | null;
  @ApiProperty() created_at: string;
  @ApiProperty({ nullable: true, type: String }) last_used_at: string | null;
}

export class PasskeyListResponseDto {
  @ApiProperty({ type: [PasskeyResponseDto] }) data: PasskeyResponseDto[];
}
