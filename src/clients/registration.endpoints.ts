import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import {
  readJson,
  requestPath,
  sendJson,
  type RawRequest,
  type RawResponse,
} from '../common/http.js';
import { InvalidToken } from '../common/oauth-errors.js';
import type { ProtocolEndpoint } from '../common/protocol-endpoint.js';
import { ROUTES } from '../common/routes.js';
import { addressOf } from '../rate-limits/client-address.js';
import { RateLimiter } from '../rate-limits/rate-limiter.service.js';
import { RegistrationService } from './registration.service.js';

const MAX_TOKEN_LENGTH = 512;
/** RFC 6750 §2.1 b64token. */
const B64_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * POST /oauth/register (RFC 7591) and GET|PUT|DELETE /oauth/register/:client_id (RFC 7592).
 * Mounted with the protocol endpoints, so errors are OAuth JSON and bodies are read here.
 */
@Injectable()
export class RegistrationEndpoints {
  readonly register: ProtocolEndpoint;
  /** Matched by prefix: the client id follows it. */
  readonly management: ProtocolEndpoint;

  constructor(
    private readonly config: AppConfig,
    private readonly registration: RegistrationService,
    private readonly limiter: RateLimiter,
  ) {
    this.register = {
      path: ROUTES.register,
      methods: ['POST'],
      handle: (req, res) => this.handleRegister(req, res),
    };
    this.management = {
      path: `${ROUTES.register}/`,
      methods: ['GET', 'PUT', 'DELETE'],
      handle: (req, res) => this.handleManagement(req, res),
    };
  }

  private async handleRegister(req: RawRequest, res: RawResponse): Promise<void> {
    this.registration.assertEnabled();
    // Every attempt counts, failed ones too: this also bounds guessing of initial access tokens.
    await this.limiter.consume(
      'registration',
      addressOf(req),
      'too many registrations; retry later',
    );
    const token = bearerToken(req);
    await this.registration.checkInitialAccessToken(token);
    const body = await readJson(req, this.config.http);
    sendJson(res, 201, await this.registration.register(body, token));
  }

  private async handleManagement(req: RawRequest, res: RawResponse): Promise<void> {
    const clientId = clientIdOf(req.url ?? '');
    const token = bearerToken(req);
    if (req.method === 'GET') {
      sendJson(res, 200, await this.registration.read(clientId, token));
    } else if (req.method === 'PUT') {
      // Authenticate before reading the body: an unauthenticated caller learns nothing from it.
      await this.registration.checkRegistrationAccessToken(clientId, token);
      const body = await readJson(req, this.config.http);
      sendJson(res, 200, await this.registration.replace(clientId, token, body));
    } else {
      await this.registration.remove(clientId, token);
      res.writeHead(204, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
      res.end();
    }
  }
}

/** The bearer token of the Authorization header (RFC 6750 §2.1), or null when there is none. */
function bearerToken(req: RawRequest): string | null {
  const header = req.headers.authorization;
  if (header === undefined || !/^bearer /i.test(header)) return null;
  const token = header.slice(7).trim();
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !B64_TOKEN.test(token)) {
    throw new InvalidToken('the bearer token is malformed');
  }
  return token;
}

/** The client id after /oauth/register/; anything unusable is simply no client (a 401 later). */
function clientIdOf(url: string): string {
  const encoded = requestPath(url).slice(ROUTES.register.length + 1);
  try {
    const id = decodeURIComponent(encoded);
    return id.includes('/') ? '' : id;
  } catch {
    return '';
  }
}
