import type { IncomingMessage } from 'node:http';
import express from 'express';
import { clientAddress, type TrustProxy } from './protocol-dispatch.js';

/** What express's own `req.ip` says for the same request under the same `trust proxy`. */
function expressIp(
  trust: unknown,
  remoteAddress: string,
  forwardedFor?: string,
): string | undefined {
  const app = express();
  app.set('trust proxy', trust);
  const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
  const req = Object.create(app.request as object, {
    app: { value: app },
    headers: { value: headers },
    socket: { value: { remoteAddress } },
    connection: { value: { remoteAddress } },
  }) as { ip?: string };
  return req.ip;
}

function ours(trust: unknown, remoteAddress: string, forwardedFor?: string): string | undefined {
  const app = express();
  app.set('trust proxy', trust);
  const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
  const req = { headers, socket: { remoteAddress } } as unknown as IncomingMessage;
  return clientAddress(req, app.get('trust proxy fn') as TrustProxy);
}

describe(clientAddress.name, () => {
  const settings: unknown[] = [
    false,
    true,
    0,
    1,
    2,
    3,
    'loopback',
    '10.0.0.0/8',
    'loopback, uniquelocal',
  ];
  const requests: [string, string | undefined][] = [
    ['127.0.0.1', undefined],
    ['127.0.0.1', '203.0.113.7'],
    ['127.0.0.1', '198.51.100.1, 10.1.2.3'],
    ['127.0.0.1', ' 198.51.100.1 ,10.1.2.3 , 10.9.9.9'],
    ['10.0.0.5', '198.51.100.1, 127.0.0.1'],
    ['203.0.113.9', '198.51.100.1'],
    ['::1', '2001:db8::1'],
    ['::ffff:127.0.0.1', '198.51.100.2'],
    ['127.0.0.1', ''],
  ];

  it.each(settings)('agrees with express req.ip for trust proxy %p', (trust) => {
    for (const [remote, forwarded] of requests) {
      expect({ remote, forwarded, ip: ours(trust, remote, forwarded) }).toEqual({
        remote,
        forwarded,
        ip: expressIp(trust, remote, forwarded),
      });
    }
  });

  it('takes the socket address when nothing is trusted, whatever the header says', () => {
    expect(ours(false, '127.0.0.1', '203.0.113.7')).toBe('127.0.0.1');
  });
});
