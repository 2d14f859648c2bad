import 'reflect-metadata';
import { createExampleApp, exampleMetadataUrl, normalizeAudience } from './app.module.js';

/** Runs the example reports API. ISSUER, AUDIENCE and PORT come from the environment. */
async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 4000);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`PORT must be a TCP port, not ${process.env.PORT}`);
  }
  const issuer = process.env.ISSUER ?? 'http://localhost:3000';
  const audience = normalizeAudience(process.env.AUDIENCE ?? `http://localhost:${port}`);
  const app = await createExampleApp({ issuer, audience });
  await app.listen(port);
  console.log(`Example reports API on port ${port}`);
  console.log(`  Issuer:    ${issuer}`);
  console.log(`  Audience:  ${audience}`);
  console.log(`  Metadata:  ${exampleMetadataUrl(audience)}`);
  console.log(`  Endpoint:  GET /reports (permission reports:read)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
