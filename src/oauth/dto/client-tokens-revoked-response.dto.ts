import { ApiProperty } from '@nestjs/swagger';

export class ClientTokensRevokedResponseDto {
  @ApiProperty() client_id: string;
  @ApiProperty({
    description:
      'Every access token issued to the client up to this time (to the second) no longer verifies.',
  })
  revoked_before: string;
  @ApiProperty({
    description:
      'Grants (token families: refresh tokens, unredeemed codes and the access tokens they gave) revoked.',
  })
  revoked_grants: number;
  @ApiProperty({ description: 'User consents withdrawn: each user is asked again.' })
  withdrawn_consents: number;
}
