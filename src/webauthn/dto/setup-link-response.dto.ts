import { ApiProperty } from '@nestjs/swagger';

export class SetupLinkResponseDto {
  @ApiProperty({
    description: 'One-time passkey enrollment link. Shown once; older links stop working.',
    example: 'https://id.example.com/setup/lk_st_…',
  })
  setup_url: string;

  @ApiProperty() expires_at: string;
}
