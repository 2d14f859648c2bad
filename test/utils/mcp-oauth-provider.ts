import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';

/** Plays the person's browser: given the authorization URL, returns where it redirected. */
export type Browser = (authorizationUrl: URL) => Promise<URL>;

/**
 * An MCP client's OAuth state, in memory. `redirectToAuthorization` hands the URL to a
 * `Browser` and keeps the authorization response, which the test then passes to
 * `transport.finishAuth(code)` as a real client's redirect handler would.
 */
export class InMemoryOAuthProvider implements OAuthClientProvider {
  private client: OAuthClientInformationMixed | undefined;
  private stored: OAuthTokens | undefined;
  private verifier: string | undefined;
  /** Every authorization URL the SDK sent the browser to. */
  readonly authorizationUrls: URL[] = [];
  /** Every token set the SDK saved, in order. */
  readonly savedTokens: OAuthTokens[] = [];
  /** The last authorization response (the redirect back to `redirectUrl`). */
  callback: URL | undefined;

  constructor(
    readonly redirectUrl: string,
    readonly clientMetadata: OAuthClientMetadata,
    private readonly browser: Browser,
    /** SEP-991: an https client_id that names a Client ID Metadata Document. */
    readonly clientMetadataUrl?: string,
  ) {}

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.client;
  }

  saveClientInformation(information: OAuthClientInformationMixed): void {
    this.client = information;
  }

  tokens(): OAuthTokens | undefined {
    return this.stored;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.stored = tokens;
    this.savedTokens.push(tokens);
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.authorizationUrls.push(authorizationUrl);
    this.callback = await this.browser(authorizationUrl);
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.verifier = codeVerifier;
  }

  codeVerifier(): string {
    if (this.verifier === undefined) throw new Error('no code verifier saved');
    return this.verifier;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.stored = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
  }

  /**
   * Makes the stored access token unusable while keeping the refresh token, as if it had
   * expired: the resource server answers 401 and the SDK must refresh.
   */
  spoilAccessToken(): void {
    if (!this.stored) throw new Error('no tokens to spoil');
    this.stored = { ...this.stored, access_token: `${this.stored.access_token}x` };
  }
}
