/**
 * Authorization endpoint errors (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). They go back to the
 * client only once its redirect URI is verified; before that they are shown on an error page.
 */
export type AuthorizeErrorCode =
  | 'invalid_request'
  | 'unauthorized_client'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'server_error'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'
  | 'invalid_target'
  | 'request_not_supported'
  | 'request_uri_not_supported';

export class AuthorizeError extends Error {
  constructor(
    readonly error: AuthorizeErrorCode,
    readonly description: string,
  ) {
    super(description);
  }
}

/** Raised before the redirect URI is trusted: the user sees a page, the client hears nothing. */
export class UntrustedAuthorizeError extends Error {
  constructor(
    readonly title: string,
    readonly description: string,
  ) {
    super(description);
  }
}
