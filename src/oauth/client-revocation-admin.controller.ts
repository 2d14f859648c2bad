import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminApi } from '../auth-guards/auth-guards.decorators.js';
import { ClientRevocationService } from './client-revocation.service.js';
import { ClientTokensRevokedResponseDto } from './dto/client-tokens-revoked-response.dto.js';

@ApiTags('clients')
@AdminApi()
@Controller('admin/clients')
export class ClientRevocationAdminController {
  constructor(private readonly revocation: ClientRevocationService) {}

  @Post(':id/revoke-tokens')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Revoke every token of a client (compromise): refresh tokens, access tokens issued so far, and user consents',
  })
  @ApiOkResponse({ type: ClientTokensRevokedResponseDto })
  @ApiNotFoundResponse({ description: 'client_not_found' })
  revokeTokens(@Param('id') id: string): Promise<ClientTokensRevokedResponseDto> {
    return this.revocation.revokeTokens(id);
  }
}
