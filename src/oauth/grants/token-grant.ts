import type { ClientRecord } from '../../clients/client-record.js';
import type { FormParams, RawRequest } from '../../common/http.js';

export interface GrantContext {
  client: ClientRecord;
  form: FormParams;
  req: RawRequest;
}

/** RFC 6749 §5.1. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
  issued_token_type?: string;
}

/** One grant type: its name, the parameters it may repeat, and its handler. */
export interface TokenGrant {
  readonly grantType: string;
  /** Parameters that may appear more than once (RFC 8707 `resource`); any other repeat is an error. */
  readonly repeatable: ReadonlySet<string>;
  handle(ctx: GrantContext): Promise<TokenResponse>;
}
