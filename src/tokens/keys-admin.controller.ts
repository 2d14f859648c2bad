import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminApi } from '../auth-guards/auth-guards.decorators.js';
import { KeyListResponseDto, KeyRevocationResponseDto } from './dto/key-response.dto.js';
import { KeysAdminService } from './keys-admin.service.js';

@ApiTags('keys')
@AdminApi()
@Controller('admin/keys')
export class KeysAdminController {
  constructor(private readonly keys: KeysAdminService) {}

  @Get()
  @ApiOperation({ summary: 'List signing keys, newest first, with their states' })
  @ApiOkResponse({ type: KeyListResponseDto })
  list(): Promise<KeyListResponseDto> {
    return this.keys.list();
  }

  @Post('rotate')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Add a pending key for access and ID tokens; each signs after the promotion delay',
  })
  @ApiOkResponse({ type: KeyListResponseDto })
  rotate(): Promise<KeyListResponseDto> {
    return this.keys.rotate();
  }

  @Post(':kid/revoke')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Revoke a signing key now (compromise): it leaves the JWKS and its tokens stop verifying; an active key is replaced first',
  })
  @ApiOkResponse({ type: KeyRevocationResponseDto })
  @ApiNotFoundResponse({ description: 'key_not_found' })
  revoke(@Param('kid') kid: string): Promise<KeyRevocationResponseDto> {
    return this.keys.revoke(kid);
  }
}
