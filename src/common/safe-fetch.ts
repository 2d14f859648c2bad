import { Injectable } from '@nestjs/common';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { LRUCache } from 'lru-cache';
import { AppConfig } from '../config/app-config.js';
import { cacheCounters } from '../health/metrics-registry.js';
import { classifyAddress } from './ip-ranges.js';
import { TokenBucket } from './token-bucket.js';

/** Why a fetch was refused. Callers map these to their own errors; logs may carry them. */
export type FetchRefusalReason =
  | 'invalid_url'
  | 'scheme'
  | 'dns'
  | 'address'
  | 'redirect'
  | 'status'
  | 'content_type'
  | 'content_encoding'
  | 'too_large'
  | 'timeout'
  | 'rate_limited'
  | 'network'
  | 'invalid_json';

export class FetchRefused extends Error {
  constructor(
    readonly reason: FetchRefusalReason,
    message: string,
  ) {
    super(message);
    this.name = 'FetchRefused';
  }
}

export interface FetchedJson {
  body: unknown;
  /** Epoch ms until which the result may be reused (Cache-Control / Expires, clamped). */
  expiresAt: number;
}

export interface FetchOptions {
  /** Skip the cache (still coalesced and rate-limited), e.g. to look for a new key id. */
  fresh?: boolean;
}

/** draft-ietf-oauth-client-id-metadata-document §6.6: documents are limited to 5 KB. */
export const MAX_BODY_BYTES = 5 * 1024;
const TIMEOUT_MS = 5_000;
const CACHE_ENTRIES = 10_000;
/** Fetched documents (CIMD, jwks_uri) reused while fresh. */
const fetchLookups = cacheCounters('fetch');

/**
 * The one outbound HTTP GET for URLs that outsiders choose (CIMD documents, jwks_uri). It
 * refuses to reach anything that is not publicly routable: the host is resolved here, every
 * address is checked, and the connection goes to the checked address (a custom `lookup` pins
 * it), so DNS rebinding between check and connect cannot redirect it. No redirects, 200 only,
 * JSON only, 5 KB, 5 s in total. Hosts in FETCH_ALLOW_HOSTS skip the address check and may
 * use http (tests, internal deployments).
 */
@Injectable()
export class SafeFetcher {
  private readonly cache = new LRUCache<string, FetchedJson>({ max: CACHE_ENTRIES });
  private readonly inFlight = new Map<string, Promise<FetchedJson>>();
  private readonly globalBucket: TokenBucket;
  private readonly hostBuckets = new LRUCache<string, TokenBucket>({ max: CACHE_ENTRIES });
  private readonly allowHosts: ReadonlySet<string>;

  constructor(private readonly config: AppConfig) {
    this.globalBucket = new TokenBucket(config.fetch.ratePerSecond);
    this.allowHosts = new Set(config.fetch.allowHosts);
  }

  /** A JSON document, from cache while fresh; one request per URL at a time. */
  fetchJson(url: string, options: FetchOptions = {}): Promise<FetchedJson> {
    if (!options.fresh) {
      const cached = this.cache.get(url);
      if (cached && cached.expiresAt > Date.now()) {
        fetchLookups.hit.value++;
        return Promise.resolve(cached);
      }
      fetchLookups.miss.value++;
    }
    const pending = this.inFlight.get(url);
    if (pending) return pending;
    const started = this.fetchUncached(url).finally(() => this.inFlight.delete(url));
    this.inFlight.set(url, started);
    return started;
  }

  /** Whether the URL's host:port (or host alone) is allow-listed. */
  isAllowListed(url: URL): boolean {
    return this.allowHosts.has(url.host.toLowerCase()) || this.allowHosts.has(url.hostname);
  }

  private async fetchUncached(raw: string): Promise<FetchedJson> {
    const url = parseUrl(raw);
    const allowListed = this.isAllowListed(url);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowListed)) {
      throw new FetchRefused('scheme', `only https URLs are fetched`);
    }
    const deadline = Date.now() + TIMEOUT_MS;
    const hostname = unbracket(url.hostname);
    const address = allowListed ? null : await checkedAddress(hostname, deadline);
    this.takeToken(url.hostname);
    const fetched = await this.get(url, hostname, address, deadline);
    this.cache.set(raw, fetched);
    return fetched;
  }

  private takeToken(host: string): void {
    let bucket = this.hostBuckets.get(host);
    if (!bucket) {
      bucket = new TokenBucket(this.config.fetch.hostRatePerSecond);
      this.hostBuckets.set(host, bucket);
    }
    if (!bucket.take() || !this.globalBucket.take()) {
      throw new FetchRefused('rate_limited', 'too many outgoing fetches');
    }
  }

  private get(
    url: URL,
    hostname: string,
    pinned: LookupAddress | null,
    deadline: number,
  ): Promise<FetchedJson> {
    const options: RequestOptions = {
      method: 'GET',
      host: hostname,
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      headers: {
        accept: 'application/json',
        'user-agent': 'Latchkey',
        'accept-encoding': 'identity',
      },
      agent: false,
      ...(pinned === null ? {} : { lookup: pinnedLookup(pinned) }),
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<FetchedJson>((resolve, reject) => {
      let settled = false;
      const fail = (err: FetchRefused) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new FetchRefused('timeout', 'the fetch took too long')),
        Math.max(0, deadline - Date.now()),
      );
      const req = send(
        {
          ...options,
          ...(url.protocol === 'https:' && isIP(hostname) === 0 ? { servername: hostname } : {}),
        },
        (res) => {
          const refusal = checkResponse(res);
          if (refusal) return fail(refusal);
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              fail(new FetchRefused('too_large', 'the document is larger than 5 KB'));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            let body: unknown;
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              return fail(new FetchRefused('invalid_json', 'the document is not valid JSON'));
            }
            settled = true;
            clearTimeout(timer);
            resolve({ body, expiresAt: Date.now() + this.lifetimeSeconds(res) * 1000 });
          });
          res.on('error', () => fail(new FetchRefused('network', 'the response was cut off')));
        },
      );
      req.on('error', () => fail(new FetchRefused('network', 'the server could not be reached')));
      req.end();
    });
  }

  /** RFC 9111 §5.2.2, §5.3: max-age (s-maxage first: this is a shared cache) or Expires. */
  private lifetimeSeconds(res: IncomingMessage): number {
    const { cacheMinSeconds: min, cacheMaxSeconds: max } = this.config.fetch;
    const directives = (res.headers['cache-control'] ?? '').toLowerCase();
    let seconds: number | null = null;
    if (/(^|[\s,])(no-store|no-cache)([\s,=]|$)/.test(directives)) {
      seconds = min;
    } else {
      const age =
        /(?:^|[\s,])s-maxage=(\d+)/.exec(directives) ?? /(?:^|[\s,])max-age=(\d+)/.exec(directives);
      if (age) seconds = Number(age[1]);
      else if (res.headers.expires) {
        const expires = Date.parse(res.headers.expires);
        const date = res.headers.date ? Date.parse(res.headers.date) : Date.now();
        seconds = Number.isNaN(expires) || Number.isNaN(date) ? min : (expires - date) / 1000;
      }
    }
    return Math.min(max, Math.max(min, seconds ?? min));
  }
}

function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FetchRefused('invalid_url', 'not an absolute URL');
  }
  if (url.username || url.password) {
    throw new FetchRefused('invalid_url', 'URLs with credentials are not fetched');
  }
  return url;
}

function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/**
 * Resolves the host and checks every address it has: one private address among public ones
 * is refused too, because the connection could otherwise be steered to it.
 */
async function checkedAddress(hostname: string, deadline: number): Promise<LookupAddress> {
  const family = isIP(hostname);
  let addresses: LookupAddress[];
  if (family !== 0) {
    addresses = [{ address: hostname, family }];
  } else {
    let timer: NodeJS.Timeout | undefined;
    try {
      addresses = await Promise.race([
        dnsLookup(hostname, { all: true, verbatim: true }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new FetchRefused('timeout', 'the host name took too long to resolve')),
            Math.max(0, deadline - Date.now()),
          );
        }),
      ]);
    } catch (err) {
      if (err instanceof FetchRefused) throw err;
      throw new FetchRefused('dns', 'the host name does not resolve');
    } finally {
      clearTimeout(timer);
    }
  }
  if (addresses.length === 0) throw new FetchRefused('dns', 'the host name does not resolve');
  for (const { address } of addresses) {
    const blocked = classifyAddress(address);
    if (blocked !== null) {
      throw new FetchRefused('address', `the host resolves to a ${blocked} address`);
    }
  }
  return addresses[0];
}

/** A `lookup` that answers with the address already checked, whatever DNS says now. */
function pinnedLookup(pinned: LookupAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
}

function checkResponse(res: IncomingMessage): FetchRefused | null {
  const status = res.statusCode ?? 0;
  if (status >= 300 && status < 400) {
    return new FetchRefused('redirect', 'redirects are not followed');
  }
  if (status !== 200) return new FetchRefused('status', `the server answered ${status}`);
  const type = (res.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    return new FetchRefused('content_type', 'the document is not application/json');
  }
  const encoding = (res.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') {
    return new FetchRefused('content_encoding', 'compressed documents are not accepted');
  }
  const length = Number(res.headers['content-length'] ?? 0);
  if (length > MAX_BODY_BYTES) {
    return new FetchRefused('too_large', 'the document is larger than 5 KB');
  }
  return null;
}
