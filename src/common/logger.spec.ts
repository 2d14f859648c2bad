import { pino } from 'pino';
import { REDACTION } from './logger.js';

/** One log line, written through the process's redaction settings, parsed back. */
function logged(fields: Record<string, unknown>): Record<string, unknown> {
  let line = '';
  const sut = pino({ redact: REDACTION }, { write: (text: string) => (line = text) });
  sut.info(fields, 'message');
  return JSON.parse(line) as Record<string, unknown>;
}

describe('logger redaction', () => {
  it('censors credentials, tokens, codes and emails at the top level', () => {
    const fields = {
      authorization: 'Basic c2VjcmV0',
      'set-cookie': 'lk_session=lk_sid_x',
      client_secret: 'lk_cs_x',
      code: 'lk_ac_x',
      code_verifier: 'v',
      refresh_token: 'lk_rt_x',
      id_token: 'eyJ.x.y',
      subject_token: 'eyJ.a.b',
      client_assertion: 'eyJ.c.d',
      registration_access_token: 'lk_rat_x',
      setup_url: 'https://id.example/setup/lk_st_x',
      email: 'ada@example.com',
    };

    const line = logged({ ...fields, clientId: 'kept', reqId: 'kept' });

    for (const name of Object.keys(fields)) expect(line[name]).toBe('[redacted]');
    expect(line).toMatchObject({ clientId: 'kept', reqId: 'kept' });
  });

  it('censors them inside logged errors, headers and bodies', () => {
    const err = Object.assign(new Error('duplicate key'), {
      parameters: ['ada@example.com', 'hash'],
      detail: 'Key (email)=(ada@example.com) already exists.',
      token: 'lk_rt_x',
    });

    const line = logged({
      err,
      req: { headers: { authorization: 'Bearer eyJ.x.y', cookie: 'lk_session=x' } },
      body: { password: 'p', assertion: 'eyJ.a.b' },
    });

    expect(line.err).toMatchObject({
      message: 'duplicate key',
      parameters: '[redacted]',
      detail: '[redacted]',
      token: '[redacted]',
    });
    expect(line.req).toEqual({ headers: { authorization: '[redacted]', cookie: '[redacted]' } });
    expect(line.body).toEqual({ password: '[redacted]', assertion: '[redacted]' });
  });
});
