import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuardsModule } from '../../src/auth-guards/auth-guards.module.js';
import { protectedResourceMetadataUrl } from '../../src/auth-guards/protected-resource-metadata.js';
import { REPORTS_READ, ReportsController } from './reports.controller.js';

export interface ExampleOptions {
  /** Latchkey's issuer, byte for byte (`iss` of its tokens), e.g. `http://localhost:3000`. */
  issuer: string;
  /** This API's resource identifier as registered in Latchkey (`POST /admin/resources`). */
  audience: string;
  /** `false` silences Nest's logger (tests); default: Nest's console logger. */
  logger?: false;
}

/** The example API's resource identifier, normalized as Latchkey stores it (`new URL().href`). */
export function normalizeAudience(audience: string): string {
  return new URL(audience).href;
}

/** The URL of the RFC 9728 document the example serves for `audience`. */
export function exampleMetadataUrl(audience: string): string {
  return protectedResourceMetadataUrl(normalizeAudience(audience));
}

@Module({})
export class AppModule {
  static register(options: ExampleOptions): DynamicModule {
    const issuer = options.issuer.replace(/\/+$/, '');
    return {
      module: AppModule,
      imports: [
        AuthGuardsModule.forResourceServer({
          issuer: options.issuer,
          jwksUri: `${issuer}/.well-known/jwks.json`,
          // Latchkey stores `http://host:4000` as `http://host:4000/` and puts that in `aud`.
          audience: normalizeAudience(options.audience),
          scopesSupported: [REPORTS_READ],
          resourceName: 'Example reports API',
        }),
      ],
      controllers: [ReportsController],
    };
  }
}

/**
 * The example app, created but not listening: `main.ts` listens on PORT, tests on a free port.
 * It serves `GET /reports` and its RFC 9728 metadata at `exampleMetadataUrl(audience)`.
 */
export async function createExampleApp(options: ExampleOptions): Promise<INestApplication> {
  return NestFactory.create(
    AppModule.register(options),
    options.logger === false ? { logger: false } : {},
  );
}
