import { createHash } from 'node:crypto';
import type { RawRequest, RawResponse } from './http.js';

/** A response body built once and served as is, with its ETag. */
export interface PrebuiltDocument {
  body: Buffer;
  etag: string;
}

export function prebuild(value: unknown): PrebuiltDocument {
  const body = Buffer.from(JSON.stringify(value));
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Serves a prebuilt JSON document, answering a matching If-None-Match with 304. */
export function serveDocument(
  req: RawRequest,
  res: RawResponse,
  doc: PrebuiltDocument,
  maxAgeSeconds: number,
): void {
  const headers = {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': `public, max-age=${maxAgeSeconds}`,
    ETag: doc.etag,
  };
  const match = req.headers['if-none-match'];
  if (
    match !== undefined &&
    match.split(',').some((tag) => tag.trim().replace(/^W\//, '') === doc.etag)
  ) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Length': doc.body.length });
  res.end(req.method === 'HEAD' ? undefined : doc.body);
}
