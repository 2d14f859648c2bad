import { Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { AdminApi } from '../auth-guards/auth-guards.decorators.js';
import { PasskeyListResponseDto } from './dto/passkey-response.dto.js';
import { SetupLinkResponseDto } from './dto/setup-link-response.dto.js';
import { PasskeysService } from './passkeys.service.js';
import { SetupTokensService } from './setup-tokens.service.js';

@ApiTags('users')
@AdminApi()
@Controller('admin/users')
export class PasskeysAdminController {
  constructor(
    private readonly passkeys: PasskeysService,
    private readonly setupTokens: SetupTokensService,
  ) {}

  @Post(':id/setup-link')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Issue a one-time passkey enrollment link; older unused links stop working',
  })
  @ApiOkResponse({ type: SetupLinkResponseDto })
  @ApiNotFoundResponse({ description: 'user_not_found' })
  setupLink(@Param('id') id: string): Promise<SetupLinkResponseDto> {
    return this.setupTokens.issue(id);
  }

  @Get(':id/credentials')
  @ApiOperation({ summary: "List the user's passkeys" })
  @ApiOkResponse({ type: PasskeyListResponseDto })
  @ApiNotFoundResponse({ description: 'user_not_found' })
  list(@Param('id') id: string): Promise<PasskeyListResponseDto> {
    return this.passkeys.adminList(id);
  }

  @Delete(':id/credentials/:credentialId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove one of the user’s passkeys (the last one too)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'user_not_found or credential_not_found' })
  remove(@Param('id') id: string, @Param('credentialId') credentialId: string): Promise<void> {
    return this.passkeys.adminRemove(id, credentialId);
  }
}
