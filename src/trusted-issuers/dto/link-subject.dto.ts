import { ApiProperty } from '@nestjs/swagger';
import { IsUUID } from 'class-validator';

export class LinkSubjectDto {
  @ApiProperty({ format: 'uuid', description: 'The local user the external subject stands for.' })
  @IsUUID()
  user_id: string;
}
