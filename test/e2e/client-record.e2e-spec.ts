import { exportJWK, generateKeyPair } from 'jose';
import { ClientsService, toRecord } from '../../src/clients/clients.service.js';
import { ClientEntity } from '../../src/clients/entities/client.entity.js';
import { EventBus } from '../../src/database/event-bus.service.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { createUser } from '../utils/user-grants.js';

/**
 * A client cache miss reads the row in plain SQL (the token path), not through the ORM: the
 * record must be exactly the one the ORM entity gives, for every kind of column.
 */
describe('ClientsService.findRecord on a cache miss', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
  });

  afterAll(async () => {
    await sut.close();
  });

  async function fromDatabase(id: string) {
    // Drop the cached record everywhere, as a change on another node would.
    await sut.app.get(EventBus).publish('clients', id);
    return sut.app.get(ClientsService).findRecord(id);
  }

  async function throughOrm(id: string) {
    return toRecord(await sut.dataSource.getRepository(ClientEntity).findOneByOrFail({ id }));
  }

  it('reads a client with every optional column set as the ORM does', async () => {
    const owner = await createUser(sut);
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const created = await sut.createClient({
      client_name: 'record parity',
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      redirect_uris: ['https://app.example/callback', 'http://127.0.0.1/cb'],
      post_logout_redirect_uris: ['https://app.example/bye'],
      allowed_scopes: ['reports:read'],
      owner_user_id: owner.id,
      contacts: ['ops@app.example'],
      logo_uri: 'https://app.example/logo.png',
      policy_uri: 'https://app.example/policy',
      tos_uri: 'https://app.example/tos',
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', use: 'sig', alg: 'ES256' }] },
    });
    const record = await fromDatabase(created.client_id);

    expect(record).toEqual(await throughOrm(created.client_id));
    expect(record?.redirectUris).toEqual(['https://app.example/callback', 'http://127.0.0.1/cb']);
  });

  it('reads a minimal public client, and nothing for an unknown id', async () => {
    const created = await sut.createClient({
      client_name: 'record parity public',
      client_type: 'public',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      redirect_uris: ['https://spa.example/cb'],
    });

    expect(await fromDatabase(created.client_id)).toEqual(await throughOrm(created.client_id));
    expect(await fromDatabase('no-such-client')).toBeNull();
  });
});
