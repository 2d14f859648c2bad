import { ApiProperty } from '@nestjs/swagger';

export class ResourceResponseDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() identifier: string;
  @ApiProperty() name: string;
  @ApiProperty({ type: [String] }) scopes: string[];
  @ApiProperty({ nullable: true, type: Number }) access_token_ttl_seconds: number | null;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class ResourceListResponseDto {
  @ApiProperty({ type: [ResourceResponseDto] }) data: ResourceResponseDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}
