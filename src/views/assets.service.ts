import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { allowPublicCaching } from '../common/security-headers.js';
import { VIEWS_DIR } from './views.service.js';

const TYPES: Record<string, string> = {
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
};

/** The browser half of @simplewebauthn, straight from the installed package. */
const WEBAUTHN_BUNDLE = join(
  process.cwd(),
  'node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js',
);

/** Only these names are served; anything else is a 404, so no path ever reaches the disk. */
const FILES: Record<string, string> = {
  'latchkey.css': join(VIEWS_DIR, 'assets/latchkey.css'),
  'login.js': join(VIEWS_DIR, 'assets/login.js'),
  'setup.js': join(VIEWS_DIR, 'assets/setup.js'),
  'account.js': join(VIEWS_DIR, 'assets/account.js'),
  'passkeys.js': join(VIEWS_DIR, 'assets/passkeys.js'),
  'simplewebauthn-browser.js': WEBAUTHN_BUNDLE,
};

/** Browsers may reuse an asset this long, in seconds; the ETag revalidates it after. */
const ASSET_MAX_AGE_SECONDS = 300;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

@Injectable()
export class AssetsService {
  private readonly loaded = new Map<string, Promise<Asset>>();

  async send(res: Response, name: string): Promise<void> {
    const path = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
    if (path === undefined) {
      res.status(404).type('text/plain').send('not found');
      return;
    }
    const asset = await this.load(name, path);
    res.setHeader('Content-Type', asset.type);
    res.setHeader('ETag', asset.etag);
    allowPublicCaching(res, ASSET_MAX_AGE_SECONDS);
    if (res.req.headers['if-none-match'] === asset.etag) {
      res.status(304).end();
      return;
    }
    res.status(200).send(asset.body);
  }

  /** Read once, on first request, then served from memory. */
  private load(name: string, path: string): Promise<Asset> {
    let pending = this.loaded.get(name);
    if (pending === undefined) {
      pending = readFile(path).then((body) => ({
        body,
        type: TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      }));
      pending.catch(() => this.loaded.delete(name));
      this.loaded.set(name, pending);
    }
    return pending;
  }
}
