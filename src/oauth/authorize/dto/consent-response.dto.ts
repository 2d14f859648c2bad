import { ApiProperty } from '@nestjs/swagger';

/** One app a user has allowed to act for them, and what it may do. */
export class ConsentResponseDto {
  @ApiProperty() client_id: string;
  @ApiProperty({ description: 'The client’s display name.' }) client_name: string;
  @ApiProperty({ type: [String], description: 'Every scope granted so far, sorted.' })
  scopes: string[];
  @ApiProperty({ description: 'When the user first consented.' }) created_at: string;
  @ApiProperty({ description: 'When the user last widened the consent.' }) updated_at: string;
}

export class ConsentListResponseDto {
  @ApiProperty({ type: [ConsentResponseDto] }) data: ConsentResponseDto[];
}
