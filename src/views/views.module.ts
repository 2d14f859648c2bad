import { Module } from '@nestjs/common';
import { AssetsController } from './assets.controller.js';
import { AssetsService } from './assets.service.js';
import { PageExceptionFilter } from './page-exception.filter.js';
import { ViewsService } from './views.service.js';

/** Page rendering (handlebars, `views/`) and the static assets under /assets. */
@Module({
  controllers: [AssetsController],
  providers: [ViewsService, AssetsService, PageExceptionFilter],
  exports: [ViewsService, PageExceptionFilter],
})
export class ViewsModule {}
