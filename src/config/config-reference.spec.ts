import 'reflect-metadata';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { loadConfig } from './app-config.js';
import { referenceEntries, renderConfigReference } from './config-reference.js';
import { ENVIRONMENT_DOCS, type EnvironmentDoc } from './environment-docs.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const REFERENCE = join(ROOT, 'docs/configuration.md');

/** Every TypeScript file under src/, tests excluded. */
function sources(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

function documented(markdown: string): string[] {
  return [...markdown.matchAll(/^### `([A-Z0-9_]+)`$/gm)].map((match) => match[1]);
}

describe('configuration reference (docs/configuration.md)', () => {
  it('is exactly what `npm run docs:config` generates from the code now', async () => {
    const committed = readFileSync(REFERENCE, 'utf8');
    const options = (await resolveConfig(REFERENCE)) ?? {};
    const sut = await format(renderConfigReference(), { ...options, parser: 'markdown' });

    // If this fails, run `npm run docs:config` and commit docs/configuration.md.
    expect(committed).toBe(sut);
  });

  it('documents every variable the configuration reads, once', () => {
    const appConfig = readFileSync(join(ROOT, 'src/config/app-config.ts'), 'utf8');
    const read = new Set([...appConfig.matchAll(/\braw\.([A-Z0-9_]+)/g)].map((m) => m[1]));
    for (const file of sources()) {
      for (const match of readFileSync(file, 'utf8').matchAll(/process\.env\.([A-Z0-9_]+)/g)) {
        read.add(match[1]);
      }
    }
    const names = documented(readFileSync(REFERENCE, 'utf8'));

    expect(read.size).toBeGreaterThan(50);
    expect([...read].filter((name) => !names.includes(name))).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual(
      referenceEntries()
        .map((entry) => entry.name)
        .sort(),
    );
  });

  it('gives each variable its accepted values, and a unit when its name carries one', () => {
    const entries = referenceEntries();

    expect(entries.find((entry) => entry.name === 'ACCESS_TOKEN_TTL_SECONDS')).toEqual({
      name: 'ACCESS_TOKEN_TTL_SECONDS',
      group: 'tokens',
      accepts: 'integer, 30–86400',
      default: '`900` (15 min)',
      unit: 'seconds',
      description: ENVIRONMENT_DOCS.ACCESS_TOKEN_TTL_SECONDS.description,
    });
    expect(entries.find((entry) => entry.name === 'ID_TOKEN_ALG')?.accepts).toBe(
      'one of `RS256`, `PS256`, `ES256`',
    );
    const vague = entries.filter(
      (entry) => !/^(integer|one of|text|email address)/.test(entry.accepts),
    );
    expect(vague.map((entry) => entry.name)).toEqual([]);
    const unitless = entries.filter(
      (entry) => /_(SECONDS|MS|DAYS|BYTES)$/.test(entry.name) && entry.unit === null,
    );
    expect(unitless.map((entry) => entry.name)).toEqual([]);
  });

  it.each(
    Object.entries(ENVIRONMENT_DOCS as Record<string, EnvironmentDoc>).filter(
      ([, doc]) => doc.default !== undefined,
    ),
  )('states the real default of %s: setting it explicitly changes nothing', (name, doc) => {
    expect(loadConfig({ [name]: doc.default })).toEqual(loadConfig({}));
  });
});
