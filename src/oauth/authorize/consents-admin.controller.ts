import { Controller, Delete, Get, HttpCode, Param } from '@nestjs/common';
import {
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { AdminApi } from '../../auth-guards/auth-guards.decorators.js';
import { ConsentsService } from './consents.service.js';
import { ConsentListResponseDto } from './dto/consent-response.dto.js';

@ApiTags('users')
@AdminApi()
@Controller('admin/users')
export class ConsentsAdminController {
  constructor(private readonly consents: ConsentsService) {}

  @Get(':id/consents')
  @ApiOperation({ summary: 'List the apps the user has granted access, and their scopes' })
  @ApiOkResponse({ type: ConsentListResponseDto })
  @ApiNotFoundResponse({ description: 'user_not_found' })
  list(@Param('id') id: string): Promise<ConsentListResponseDto> {
    return this.consents.adminList(id);
  }

  @Delete(':id/consents/:clientId')
  @HttpCode(204)
  @ApiOperation({
    summary:
      'Withdraw the user’s consent for an app and revoke the refresh and access tokens it holds for them',
  })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'user_not_found or consent_not_found' })
  revoke(@Param('id') id: string, @Param('clientId') clientId: string): Promise<void> {
    return this.consents.adminRevoke(id, clientId);
  }
}
