import { randomUUID } from 'node:crypto';
import type { TestApp } from './test-app.js';
import { REDIRECT_URI } from './user-grants.js';

export type Json = Record<string, unknown>;

export interface Sent {
  status: number;
  headers: Headers;
  body: Json;
}

/** What a successful RFC 7591 registration returns (the fields the tests use). */
export interface Registered extends Json {
  client_id: string;
  client_secret?: string;
  registration_access_token: string;
  registration_client_uri: string;
}

/** A client name no other test uses, so its rows can be counted. */
export function uniqueName(label: string): string {
  return `dcr ${label} ${randomUUID()}`;
}

async function toSent(response: Response): Promise<Sent> {
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text.length === 0 ? {} : (JSON.parse(text) as Json),
  };
}

/** POST /oauth/register; a string body is sent as is. */
export async function postRegistration(
  sut: TestApp,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Sent> {
  const response = await fetch(`${sut.baseUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return toSent(response);
}

/** Registers a confidential web client of the code flow, expecting success. */
export async function registerClient(
  sut: TestApp,
  metadata: Json = {},
  headers: Record<string, string> = {},
): Promise<Registered> {
  const sent = await postRegistration(
    sut,
    {
      client_name: uniqueName('client'),
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      ...metadata,
    },
    headers,
  );
  if (sent.status !== 201) throw new Error(`registration failed: ${JSON.stringify(sent.body)}`);
  return sent.body as Registered;
}

/** A request to the RFC 7592 client configuration endpoint. */
export async function manage(
  url: string,
  method: 'GET' | 'PUT' | 'DELETE' | 'POST',
  token: string | null,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Sent> {
  const response = await fetch(url, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return toSent(response);
}

export function expectOAuthBody(sent: Sent, status: number, error: string, description: string) {
  expect({ status: sent.status, body: sent.body }).toEqual({
    status,
    body: { error, error_description: description },
  });
}

export async function countByName(sut: TestApp, name: string): Promise<number> {
  const rows = await sut.dataSource.query<{ n: string }[]>(
    `SELECT count(*) AS n FROM clients WHERE name = $1`,
    [name],
  );
  return Number(rows[0].n);
}
