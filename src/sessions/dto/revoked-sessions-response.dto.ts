import { ApiProperty } from '@nestjs/swagger';

export class RevokedSessionsResponseDto {
  @ApiProperty({ description: 'How many live sessions were ended.' }) revoked_sessions: number;
}
