import { Controller, Delete, HttpCode, Param } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminApi } from '../auth-guards/auth-guards.decorators.js';
import { RevokedSessionsResponseDto } from './dto/revoked-sessions-response.dto.js';
import { SessionsService } from './sessions.service.js';

@ApiTags('users')
@AdminApi()
@Controller('admin/users')
export class SessionsAdminController {
  constructor(private readonly sessions: SessionsService) {}

  @Delete(':id/sessions')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Sign the user out everywhere and revoke their refresh and access tokens',
  })
  @ApiOkResponse({ type: RevokedSessionsResponseDto })
  @ApiNotFoundResponse({ description: 'user_not_found' })
  signOutEverywhere(@Param('id') id: string): Promise<RevokedSessionsResponseDto> {
    return this.sessions.signOutEverywhere(id);
  }
}
