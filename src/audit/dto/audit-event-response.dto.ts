import { ApiProperty } from '@nestjs/swagger';

export class AuditActorDto {
  @ApiProperty({ enum: ['user', 'client', 'system', 'admin'] })
  type: 'user' | 'client' | 'system' | 'admin';
  @ApiProperty({ nullable: true, type: String }) id: string | null;
}

export class AuditEventResponseDto {
  @ApiProperty() id: string;
  @ApiProperty({ description: 'RFC 3339, with microseconds.' }) at: string;
  @ApiProperty({ example: 'client.updated' }) type: string;
  @ApiProperty({ nullable: true, type: AuditActorDto }) actor: AuditActorDto | null;
  @ApiProperty({ nullable: true, type: String }) client_id: string | null;
  @ApiProperty({ nullable: true, type: String }) user_id: string | null;
  @ApiProperty({ nullable: true, type: String }) ip: string | null;
  @ApiProperty({ nullable: true, type: String }) user_agent: string | null;
  @ApiProperty({ nullable: true, type: String }) request_id: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) details: Record<string, unknown>;
  @ApiProperty({
    nullable: true,
    type: 'object',
    additionalProperties: true,
    description: 'The administered object before the change (never a secret).',
  })
  before: Record<string, unknown> | null;
  @ApiProperty({
    nullable: true,
    type: 'object',
    additionalProperties: true,
    description: 'The administered object after the change (never a secret).',
  })
  after: Record<string, unknown> | null;
}

export class AuditEventListResponseDto {
  @ApiProperty({ type: [AuditEventResponseDto] }) data: AuditEventResponseDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}
