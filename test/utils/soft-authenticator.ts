import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  type KeyObject,
} from 'node:crypto';
import type { UserResponseDto } from '../../src/users/dto/user-response.dto.js';
import { UsersService } from '../../src/users/users.service.js';
import { SetupTokensService } from '../../src/webauthn/setup-tokens.service.js';
import type { TestApp } from './test-app.js';

/** What the ceremony helpers need of a server: also a server in a child process. */
export type Server = Pick<TestApp, 'baseUrl'>;

// ---------------------------------------------------------------------------------------------
// A software WebAuthn authenticator (P-256, "none" attestation) built on node:crypto only.
// W3C WebAuthn Level 3 §6.1 (authenticator data), §6.5 (attestation object), RFC 8949 (CBOR),
// RFC 9053 §7.1 (COSE EC2 keys).
// ---------------------------------------------------------------------------------------------

type Cbor = number | string | Uint8Array | Map<Cbor, Cbor>;

function cborHead(major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
  if (length < 0x10000) {
    const out = Buffer.alloc(3);
    out[0] = (major << 5) | 25;
    out.writeUInt16BE(length, 1);
    return out;
  }
  const out = Buffer.alloc(5);
  out[0] = (major << 5) | 26;
  out.writeUInt32BE(length, 1);
  return out;
}

export function cborEncode(value: Cbor): Buffer {
  if (typeof value === 'number') {
    return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([cborHead(2, value.length), value]);
  const parts: Buffer[] = [cborHead(5, value.size)];
  for (const [key, item] of value) parts.push(cborEncode(key), cborEncode(item));
  return Buffer.concat(parts);
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export interface CeremonyOverrides {
  /** User presence (default true). */
  up?: boolean;
  /** User verification (default true). */
  uv?: boolean;
  /** Backup eligible / backed up: a synced passkey (default false). */
  backedUp?: boolean;
  origin?: string;
  rpId?: string;
  challenge?: string;
  type?: string;
  /** The signature counter to report; by default the next value (or 0 for a counterless one). */
  signCount?: number;
  /** Sign with another key (a forged assertion). */
  wrongKey?: boolean;
}

export class SoftAuthenticator {
  readonly credentialId = randomBytes(32);
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly aaguid = Buffer.alloc(16);
  /** The user handle the relying party gave at registration, base64url. */
  userHandle: string | null = null;
  signCount: number;

  /** `counterless`: an authenticator that always reports 0 (many synced passkeys do). */
  constructor(
    readonly rpId: string,
    readonly origin: string,
    private readonly counterless = false,
  ) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
    this.signCount = 0;
  }

  static for(sut: TestApp, counterless = false): SoftAuthenticator {
    return new SoftAuthenticator(sut.config.webauthn.rpId, sut.config.webauthn.origin, counterless);
  }

  get id(): string {
    return this.credentialId.toString('base64url');
  }

  /** navigator.credentials.create(), serialized like PublicKeyCredential.toJSON(). */
  createCredential(
    options: PublicKeyCredentialCreationOptionsJSON,
    overrides: CeremonyOverrides = {},
  ): RegistrationResponseJSON {
    this.userHandle = options.user.id;
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, overrides);
    const jwk = this.publicKey.export({ format: 'jwk' });
    const coseKey = cborEncode(
      new Map<Cbor, Cbor>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x ?? '', 'base64url')],
        [-3, Buffer.from(jwk.y ?? '', 'base64url')],
      ]),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([
      this.authDataHead(overrides, FLAG_AT, overrides.signCount ?? this.signCount),
      this.aaguid,
      idLength,
      this.credentialId,
      coseKey,
    ]);
    const attestationObject = cborEncode(
      new Map<Cbor, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: attestationObject.toString('base64url'),
        transports: ['internal', 'hybrid'],
      },
    };
  }

  /** navigator.credentials.get(), serialized like PublicKeyCredential.toJSON(). */
  getAssertion(
    options: PublicKeyCredentialRequestOptionsJSON,
    overrides: CeremonyOverrides = {},
  ): AuthenticationResponseJSON {
    const count =
      overrides.signCount ?? (this.counterless ? 0 : (this.signCount = this.signCount + 1));
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, overrides);
    const authData = this.authDataHead(overrides, 0, count);
    const signed = Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]);
    const key = overrides.wrongKey
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
      : this.privateKey;
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        // ECDSA with SHA-256, DER-encoded (WebAuthn §6.5.6 for ES256).
        signature: sign('sha256', signed, key).toString('base64url'),
        ...(this.userHandle !== null ? { userHandle: this.userHandle } : {}),
      },
    };
  }

  private clientData(type: string, challenge: string, overrides: CeremonyOverrides): Buffer {
    return Buffer.from(
      JSON.stringify({
        type: overrides.type ?? type,
        challenge: overrides.challenge ?? challenge,
        origin: overrides.origin ?? this.origin,
        crossOrigin: false,
      }),
    );
  }

  private authDataHead(overrides: CeremonyOverrides, extraFlags: number, count: number): Buffer {
    let flags = extraFlags;
    if (overrides.up ?? true) flags |= FLAG_UP;
    if (overrides.uv ?? true) flags |= FLAG_UV;
    if (overrides.backedUp) flags |= FLAG_BE | FLAG_BS;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(count);
    return Buffer.concat([
      createHash('sha256')
        .update(overrides.rpId ?? this.rpId)
        .digest(),
      Buffer.from([flags]),
      counter,
    ]);
  }
}

// ---------------------------------------------------------------------------------------------
// A browser's cookie jar, reduced to what these flows need (names and values; no paths).
// ---------------------------------------------------------------------------------------------

export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Takes the Set-Cookie headers of a response. */
  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => a.trim().toLowerCase() === 'max-age=0');
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  set(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  delete(name: string): void {
    this.cookies.delete(name);
  }

  /** The Cookie request header. */
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  clone(): CookieJar {
    const copy = new CookieJar();
    for (const [name, value] of this.cookies) copy.set(name, value);
    return copy;
  }
}

/** POST JSON with the jar's cookies; the jar takes the response's cookies. */
export async function postJson(
  sut: Server,
  path: string,
  body: unknown,
  jar: CookieJar,
  headers: Record<string, string> = {},
): Promise<Response> {
  const response = await fetch(`${sut.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: jar.header(), ...headers },
    body: JSON.stringify(body),
  });
  jar.store(response);
  return response;
}

// ---------------------------------------------------------------------------------------------
// Flows other specs reuse.
// ---------------------------------------------------------------------------------------------

export async function registrationOptions(
  sut: Server,
  jar: CookieJar,
  setupToken?: string,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const response = await postJson(
    sut,
    '/webauthn/register/options',
    setupToken === undefined ? {} : { setup_token: setupToken },
    jar,
  );
  if (response.status !== 200) {
    throw new Error(`register/options: ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as PublicKeyCredentialCreationOptionsJSON;
}

export async function authenticationOptions(
  sut: Server,
  jar: CookieJar,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const response = await postJson(sut, '/webauthn/authenticate/options', {}, jar);
  if (response.status !== 200) {
    throw new Error(`authenticate/options: ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as PublicKeyCredentialRequestOptionsJSON;
}

/** Enrolls the authenticator with a setup token (or the jar's session); returns the response. */
export async function register(
  sut: Server,
  jar: CookieJar,
  authenticator: SoftAuthenticator,
  setupToken?: string,
  overrides: CeremonyOverrides = {},
): Promise<Response> {
  const options = await registrationOptions(sut, jar, setupToken);
  return postJson(
    sut,
    '/webauthn/register/verify',
    authenticator.createCredential(options, overrides),
    jar,
  );
}

/** Signs in with the authenticator; the jar receives the session cookie on success. */
export async function authenticate(
  sut: Server,
  jar: CookieJar,
  authenticator: SoftAuthenticator,
  overrides: CeremonyOverrides = {},
  returnTo?: string,
): Promise<Response> {
  const options = await authenticationOptions(sut, jar);
  const query = returnTo === undefined ? '' : `?return_to=${encodeURIComponent(returnTo)}`;
  return postJson(
    sut,
    `/webauthn/authenticate/verify${query}`,
    authenticator.getAssertion(options, overrides),
    jar,
  );
}

/** The `lk_st_…` token of a fresh setup link for the user. */
export async function setupTokenFor(sut: TestApp, userId: string): Promise<string> {
  const { setup_url } = await sut.app.get(SetupTokensService).issue(userId);
  return setup_url.slice(setup_url.lastIndexOf('/') + 1);
}

export async function createUser(
  sut: TestApp,
  input: { email?: string; roles?: string[]; displayName?: string } = {},
): Promise<UserResponseDto> {
  return sut.app.get(UsersService).create({
    email: input.email ?? `person-${randomUUID()}@example.com`,
    display_name: input.displayName ?? 'Test Person',
    roles: input.roles,
  });
}

export interface SignedInUser {
  user: UserResponseDto;
  authenticator: SoftAuthenticator;
  /** The session cookie, ready for a `cookie:` request header. */
  cookie: string;
  /** The browser's whole cookie jar (session cookie included). */
  jar: CookieJar;
}

/**
 * Creates a user (through UsersService), enrolls a software passkey from a setup link and signs
 * in with it, as a browser would. The returned `cookie` authenticates later requests.
 */
export async function enrollAndSignIn(
  sut: TestApp,
  input: { email?: string; roles?: string[] } = {},
): Promise<SignedInUser> {
  const user = await createUser(sut, input);
  const authenticator = SoftAuthenticator.for(sut);
  const jar = new CookieJar();
  const enrolled = await register(sut, jar, authenticator, await setupTokenFor(sut, user.id));
  if (enrolled.status !== 200) {
    throw new Error(`enrollment failed: ${enrolled.status} ${await enrolled.text()}`);
  }
  const signedIn = await authenticate(sut, jar, authenticator);
  if (signedIn.status !== 200) {
    throw new Error(`sign-in failed: ${signedIn.status} ${await signedIn.text()}`);
  }
  const name = sut.config.sessions.cookieName;
  const value = jar.get(name);
  if (value === undefined) throw new Error('no session cookie after sign-in');
  return { user, authenticator, cookie: `${name}=${value}`, jar };
}
