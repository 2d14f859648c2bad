import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminApi } from '../auth-guards/auth-guards.decorators.js';
import { KeyListResponseDto } from './dto/key-response.dto.js';
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
}
