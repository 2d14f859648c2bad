// Writes docs/configuration.md from the configuration schema (`npm run docs:config`, which
// builds first). src/config/config-reference.spec.ts fails when the committed file differs.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import 'reflect-metadata';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'docs/configuration.md');
const { renderConfigReference } = await import('../dist/src/config/config-reference.js');
const options = (await resolveConfig(target)) ?? {};
writeFileSync(target, await format(renderConfigReference(), { ...options, parser: 'markdown' }));
console.log(`wrote ${target}`);
