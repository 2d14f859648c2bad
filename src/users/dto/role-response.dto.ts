import { ApiProperty } from '@nestjs/swagger';

export class RoleResponseDto {
  @ApiProperty() name: string;
  @ApiProperty() description: string;
  @ApiProperty({ type: [String] }) permissions: string[];
  @ApiProperty({ description: 'Built-in roles cannot be changed or deleted.' }) built_in: boolean;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class RoleListResponseDto {
  @ApiProperty({ type: [RoleResponseDto] }) data: RoleResponseDto[];
}
