import { redact, REDACTED } from './redaction';

describe(redact.name, () => {
  it('redacts values under secret-looking keys at any depth, in any case', () => {
    expect(
      redact({
        a: { Password: 'p', nested: [{ client_secret: 's', 'X-API-Key': 'k' }] },
        maxTokens: 5,
        accessToken: 't',
      }),
    ).toEqual({
      a: { Password: REDACTED, nested: [{ client_secret: REDACTED, 'X-API-Key': REDACTED }] },
      maxTokens: 5,
      accessToken: REDACTED,
    });
  });

  it('redacts every env value, whatever its shape', () => {
    expect(redact({ env: { A: '1', B: '2' } })).toEqual({ env: { A: REDACTED, B: REDACTED } });
    expect(redact({ Env: ['A=1', 'B'] })).toEqual({ Env: [`A=${REDACTED}`, REDACTED] });
    expect(redact({ ENV: 'A=1' })).toEqual({ ENV: REDACTED });
  });

  it('keeps the { from, to } shape of a secret field in an UPDATE diff', () => {
    expect(
      redact({
        changes: {
          apiToken: { from: 't-1', to: 't-2' },
          password: { from: null, to: 'p' },
          env: { from: { A: '1' }, to: { A: '2' } },
          meta: { from: { secret: 's' }, to: { size: 2 } },
          name: { from: 'a', to: 'b' },
        },
      }),
    ).toEqual({
      changes: {
        apiToken: { from: REDACTED, to: REDACTED },
        password: { from: null, to: REDACTED },
        env: { from: { A: REDACTED }, to: { A: REDACTED } },
        meta: { from: { secret: REDACTED }, to: { size: 2 } },
        name: { from: 'a', to: 'b' },
      },
    });
  });

  it('keeps the names of a diff of env names, not the values', () => {
    expect(redact({ changes: { env: { from: { A: 'old' }, to: { A: 'new', B: 'x' } } } })).toEqual({
      changes: { env: { from: { A: REDACTED }, to: { A: REDACTED, B: REDACTED } } },
    });
  });

  it('redacts an object as it serializes (toJSON), never its fields', () => {
    class Sealed {
      constructor(readonly ct: string) {}
      toJSON(): string {
        return REDACTED;
      }
    }
    expect(
      redact({ headers: { 'X-Api': new Sealed('ciphertext') }, env: { A: new Sealed('ct') } }),
    ).toEqual({ headers: { 'X-Api': REDACTED }, env: { A: REDACTED } });
  });

  it('redacts URL passwords and secret query parameters inside strings', () => {
    expect(redact({ url: 'https://bob:hunter2@mcp.example.com/sse?api_key=sk-1&mode=ro' })).toEqual(
      {
        url: `https://bob:${REDACTED}@mcp.example.com/sse?api_key=${REDACTED}&mode=ro`,
      },
    );
    expect(redact({ note: 'see https://example.com/a?page=2' })).toEqual({
      note: 'see https://example.com/a?page=2',
    });
  });

  it('redacts the value after a secret-looking flag in argument lists', () => {
    expect(
      redact({ args: ['-y', 'server', '--api-key', 'sk-1', '--token=t-2', '--port', '80'] }),
    ).toEqual({
      args: ['-y', 'server', '--api-key', REDACTED, `--token=${REDACTED}`, '--port', '80'],
    });
  });

  it('leaves other values alone and does not mutate its input', () => {
    const input = { name: 'x', n: 1, ok: true, none: null, list: [1, 'a'] };
    expect(redact(input)).toEqual(input);
    expect(redact(input)).not.toBe(input);
  });
});
