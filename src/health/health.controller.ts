import { Controller, Get, Res } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { DatabaseHealth } from '../database/database-health.service.js';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(private readonly database: DatabaseHealth) {}

  @Get('live')
  @ApiOperation({ summary: 'The process is up' })
  @ApiOkResponse()
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'The server can serve requests: the database answers' })
  @ApiOkResponse()
  @ApiServiceUnavailableResponse()
  async ready(
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ status: string; database: string }> {
    const up = await this.database.isReady();
    if (!up) res.status(503);
    return { status: up ? 'ok' : 'unavailable', database: up ? 'up' : 'down' };
  }
}
