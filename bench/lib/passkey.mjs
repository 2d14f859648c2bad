// A software passkey (P-256, "none" attestation) and the browser steps of Latchkey's passkey
// enrollment and sign-in, so the benchmark signs in the way a person does.
// W3C WebAuthn Level 3 §6.1 (authenticator data), §6.5 (attestation object), RFC 8949 (CBOR),
// RFC 9053 §7.1 (COSE EC2 keys).
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/** CBOR for the few types an attestation object holds: small ints, text, bytes, maps. */
function cbor(value) {
  const head = (major, length) => {
    if (length < 24) return Buffer.from([(major << 5) | length]);
    if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
    const out = Buffer.alloc(3);
    out[0] = (major << 5) | 25;
    out.writeUInt16BE(length, 1);
    return out;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  const parts = [head(5, value.size)];
  for (const [key, item] of value) parts.push(cbor(key), cbor(item));
  return Buffer.concat(parts);
}

// Flags: user present, user verified, attested credential data (WebAuthn §6.1).
const UP_UV = 0x01 | 0x04;
const AT = 0x40;

export class Passkey {
  constructor(rpId, origin) {
    this.rpId = rpId;
    this.origin = origin;
    this.credentialId = randomBytes(32);
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
    this.signCount = 0;
    this.userHandle = null;
  }

  authData(flags) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.signCount);
    return Buffer.concat([
      createHash('sha256').update(this.rpId).digest(),
      Buffer.from([flags]),
      counter,
    ]);
  }

  clientData(type, challenge) {
    return Buffer.from(
      JSON.stringify({ type, challenge, origin: this.origin, crossOrigin: false }),
    );
  }

  /** navigator.credentials.create(), as PublicKeyCredential.toJSON() serializes it. */
  create(options) {
    this.userHandle = options.user.id;
    const jwk = this.publicKey.export({ format: 'jwk' });
    const coseKey = cbor(
      new Map([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x, 'base64url')],
        [-3, Buffer.from(jwk.y, 'base64url')],
      ]),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([
      this.authData(UP_UV | AT),
      Buffer.alloc(16), // AAGUID
      idLength,
      this.credentialId,
      coseKey,
    ]);
    const id = this.credentialId.toString('base64url');
    return {
      id,
      rawId: id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: this.clientData('webauthn.create', options.challenge).toString('base64url'),
        attestationObject: cbor(
          new Map([
            ['fmt', 'none'],
            ['attStmt', new Map()],
            ['authData', authData],
          ]),
        ).toString('base64url'),
        transports: ['internal'],
      },
    };
  }

  /** navigator.credentials.get(), as PublicKeyCredential.toJSON() serializes it. */
  get(options) {
    this.signCount += 1;
    const clientData = this.clientData('webauthn.get', options.challenge);
    const authData = this.authData(UP_UV);
    const signed = Buffer.concat([authData, createHash('sha256').update(clientData).digest()]);
    const id = this.credentialId.toString('base64url');
    return {
      id,
      rawId: id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientData.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: sign('sha256', signed, this.privateKey).toString('base64url'),
        userHandle: this.userHandle,
      },
    };
  }
}

/** Cookies by name, enough for one site over plain HTTP on loopback. */
export class CookieJar {
  constructor() {
    this.cookies = new Map();
  }

  store(response) {
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

  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

async function postJson(baseUrl, path, body, jar) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: jar.header() },
    body: JSON.stringify(body),
  });
  jar.store(response);
  if (response.status !== 200)
    throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/**
 * Enrolls a new passkey from a setup link (`…/setup/lk_st_…`) and signs in with it; returns the
 * jar holding the session cookie.
 */
export async function enrollAndSignIn(baseUrl, setupUrl) {
  const issuer = new URL(baseUrl);
  const passkey = new Passkey(issuer.hostname, issuer.origin);
  const jar = new CookieJar();
  const setupToken = setupUrl.slice(setupUrl.lastIndexOf('/') + 1);
  const creation = await postJson(
    baseUrl,
    '/webauthn/register/options',
    { setup_token: setupToken },
    jar,
  );
  await postJson(baseUrl, '/webauthn/register/verify', passkey.create(creation), jar);
  const request = await postJson(baseUrl, '/webauthn/authenticate/options', {}, jar);
  await postJson(baseUrl, '/webauthn/authenticate/verify', passkey.get(request), jar);
  return jar;
}
