/**
 * OAuth errors, one class per RFC `error` code (RFC 6749 §5.2, RFC 7009, RFC 7591, RFC 8707,
 * RFC 6750). `description` goes to the client; `cause` stays inside, for logs.
 */
export abstract class OAuthError extends Error {
  abstract readonly error: string;
  readonly status: number = 400;

  constructor(
    readonly description: string,
    readonly internalCause?: unknown,
  ) {
    super(description);
  }

  /** Extra response headers, e.g. WWW-Authenticate. */
  headers(): Record<string, string> {
    return {};
  }
}

export class InvalidRequest extends OAuthError {
  readonly error = 'invalid_request';
}

/** RFC 6749 §5.2: 401 with WWW-Authenticate. */
export class InvalidClient extends OAuthError {
  readonly error = 'invalid_client';
  override readonly status = 401;
  override headers(): Record<string, string> {
    return { 'WWW-Authenticate': 'Basic realm="latchkey", charset="UTF-8"' };
  }
}

export class InvalidGrant extends OAuthError {
  readonly error = 'invalid_grant';
}

export class UnauthorizedClient extends OAuthError {
  readonly error = 'unauthorized_client';
}

export class UnsupportedGrantType extends OAuthError {
  readonly error = 'unsupported_grant_type';
}

export class InvalidScope extends OAuthError {
  readonly error = 'invalid_scope';
}

/** RFC 8707 §2. */
export class InvalidTarget extends OAuthError {
  readonly error = 'invalid_target';
}

/** RFC 7009 §2.2.1. */
export class UnsupportedTokenType extends OAuthError {
  readonly error = 'unsupported_token_type';
}

/** RFC 7591 §3.2.2: a redirect URI the registration cannot accept. */
export class InvalidRedirectUri extends OAuthError {
  readonly error = 'invalid_redirect_uri';
}

/** RFC 7591 §3.2.2: a metadata field that is invalid or that this server does not allow. */
export class InvalidClientMetadata extends OAuthError {
  readonly error = 'invalid_client_metadata';
}

/** RFC 7591 §3.2.2. */
export class InvalidSoftwareStatement extends OAuthError {
  readonly error = 'invalid_software_statement';
}

export class AccessDenied extends OAuthError {
  readonly error = 'access_denied';
  override readonly status = 403;
}

export class MethodNotAllowed extends OAuthError {
  readonly error = 'invalid_request';
  override readonly status = 405;
}

export class PayloadTooLarge extends OAuthError {
  readonly error = 'invalid_request';
  override readonly status = 413;
  /** The rest of the body is not read: close the connection instead of draining it. */
  override headers(): Record<string, string> {
    return { Connection: 'close' };
  }
}

export class UnsupportedMediaType extends OAuthError {
  readonly error = 'invalid_request';
  override readonly status = 415;
}

/** The body did not arrive in time: the connection is closed rather than held open. */
export class RequestTimeout extends OAuthError {
  readonly error = 'invalid_request';
  override readonly status = 408;
  override headers(): Record<string, string> {
    return { Connection: 'close' };
  }
}

/**
 * RFC 6750 §3.1: the bearer token is expired, revoked, malformed or otherwise unusable. The
 * description is a fixed server string (never client input), so it is safe in the header.
 */
export class InvalidToken extends OAuthError {
  readonly error = 'invalid_token';
  override readonly status = 401;
  override headers(): Record<string, string> {
    return {
      'WWW-Authenticate': `Bearer error="invalid_token", error_description="${this.description}"`,
    };
  }
}

/**
 * RFC 6750 §3.1 invalid_request at a protected resource (a malformed Authorization header, a
 * repeated parameter, two token methods): a 400 with a Bearer challenge. The description can
 * quote client input, so it stays out of the header.
 */
export class BearerInvalidRequest extends OAuthError {
  readonly error = 'invalid_request';
  override headers(): Record<string, string> {
    return { 'WWW-Authenticate': 'Bearer realm="latchkey", error="invalid_request"' };
  }
}

/** RFC 6750 §3: a request without a bearer token gets a bare challenge, without error code. */
export class BearerTokenMissing extends OAuthError {
  readonly error = 'invalid_token';
  override readonly status = 401;
  override headers(): Record<string, string> {
    return { 'WWW-Authenticate': 'Bearer realm="latchkey"' };
  }
}

/** RFC 6750 §3.1: the token is valid but lacks the scope the resource needs. */
export class InsufficientScope extends OAuthError {
  readonly error = 'insufficient_scope';
  override readonly status = 403;
  constructor(
    description: string,
    readonly requiredScope: string,
  ) {
    super(description);
  }
  override headers(): Record<string, string> {
    return {
      'WWW-Authenticate': `Bearer error="insufficient_scope", error_description="${this.description}", scope="${this.requiredScope}"`,
    };
  }
}

/**
 * A rate limit or a brute-force lock: HTTP 429 with `Retry-After` in seconds (RFC 6585 §4).
 * The `error` code stays `invalid_request`: no OAuth registry code means "rate limited" at the
 * token or registration endpoints. `slow_down` belongs to device-code polling (RFC 8628 §3.5)
 * and `temporarily_unavailable` to authorization responses (RFC 6749 §4.1.2.1), so a client
 * that knows only RFC 6749 §5.2 could misread either; the status and Retry-After carry the
 * meaning, and every limit answers the same way.
 */
export class TooManyRequests extends OAuthError {
  readonly error = 'invalid_request';
  override readonly status = 429;
  constructor(
    readonly retryAfterSeconds: number,
    description = 'too many requests',
  ) {
    super(description);
  }
  override headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfterSeconds) };
  }
}

/** Anything not meant for the client. The description never carries internal detail. */
export class ServerError extends OAuthError {
  readonly error = 'server_error';
  override readonly status = 500;
  constructor(internalCause?: unknown) {
    super('the server could not complete the request', internalCause);
  }
}

export function toOAuthError(err: unknown): OAuthError {
  return err instanceof OAuthError ? err : new ServerError(err);
}
