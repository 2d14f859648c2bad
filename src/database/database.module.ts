import { Global, Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { dataSourceOptions, runMigrations } from './data-source.js';
import { EventBus } from './event-bus.service.js';
import { DatabaseHealth } from './database-health.service.js';

@Global()
@Module({})
export class DatabaseModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...dataSourceOptions(config), autoLoadEntities: true }),
          // Migrations run before any service starts, so every onModuleInit sees the full schema.
          dataSourceFactory: async (options) => {
            if (!options) throw new Error('missing data source options');
            const ds = await new DataSource(options).initialize();
            if (config.database.migrateOnStart) await runMigrations(ds);
            return ds;
          },
        }),
      ],
      providers: [EventBus, DatabaseHealth],
      exports: [EventBus, DatabaseHealth],
    };
  }
}
