import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { AssetsService } from './assets.service.js';

/** Stylesheets and page scripts, served locally: never from a CDN. */
@ApiExcludeController()
@Controller('assets')
export class AssetsController {
  constructor(private readonly assets: AssetsService) {}

  @Get(':file')
  serve(@Param('file') file: string, @Res() res: Response): Promise<void> {
    return this.assets.send(res, file);
  }
}
