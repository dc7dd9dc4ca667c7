import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKeyPair, loadSigningKeys, readPublicKeys } from './signing-keys';

describe(loadSigningKeys.name, () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcp-signing-key-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const env = (over: object = {}) => ({
    NODE_ENV: 'development' as const,
    EMBEDDED_PG_DATA_DIR: join(dir, 'postgres'),
    ...over,
  });

  it('uses AUDIT_SIGNING_KEY_FILE when set, and its id is the JWK thumbprint', async () => {
    const file = join(dir, 'mine.key');
    await writeFile(file, generateSigningKeyPair().privatePem);
    const warn = jest.fn();
    const keys = await loadSigningKeys(env({ AUDIT_SIGNING_KEY_FILE: file }), warn);
    expect(keys.generatedFile).toBeUndefined();
    expect(keys.keyId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(keys.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: keys.keyId });
    expect(warn).not.toHaveBeenCalled();
  });

  it('generates a key beside the embedded data dir once (mode 0600), with a warning', async () => {
    const warn = jest.fn();
    const first = await loadSigningKeys(env(), warn);
    expect(first.generatedFile).toBe(join(dir, 'audit-signing.key'));
    expect((await stat(first.generatedFile!)).mode & 0o777).toBe(0o600);
    expect(warn).toHaveBeenCalledTimes(1);
    const again = await loadSigningKeys(env(), warn);
    expect(again.keyId).toBe(first.keyId);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('gives every concurrent starter the same key', async () => {
    const all = await Promise.all(
      Array.from({ length: 8 }, () => loadSigningKeys(env(), () => undefined)),
    );
    expect(new Set(all.map((k) => k.keyId)).size).toBe(1);
  });

  it('refuses to go without a key in production, naming the variable', async () => {
    await expect(loadSigningKeys(env({ NODE_ENV: 'production' }), jest.fn())).rejects.toThrow(
      'AUDIT_SIGNING_KEY_FILE is required when NODE_ENV=production',
    );
  });

  it('refuses a file that is not a private key, naming the variable', async () => {
    const file = join(dir, 'bad.key');
    await writeFile(file, 'not a key');
    await expect(loadSigningKeys(env({ AUDIT_SIGNING_KEY_FILE: file }), jest.fn())).rejects.toThrow(
      /AUDIT_SIGNING_KEY_FILE .* cannot be read as a private key/,
    );
  });

  it('trusts the earlier keys of AUDIT_PREVIOUS_KEYS_FILE (a JWK Set) after a rotation', async () => {
    const old = await loadSigningKeys(env(), () => undefined);
    const previous = join(dir, 'previous.jwks');
    await writeFile(previous, JSON.stringify({ keys: [old.publicJwk] }));
    const current = join(dir, 'new.key');
    await writeFile(current, generateSigningKeyPair().privatePem);
    const keys = await loadSigningKeys(
      env({ AUDIT_SIGNING_KEY_FILE: current, AUDIT_PREVIOUS_KEYS_FILE: previous }),
      () => undefined,
    );
    expect(keys.keyId).not.toBe(old.keyId);
    expect([...keys.trusted.keys()].sort()).toEqual([keys.keyId, old.keyId].sort());
    await expect(readPublicKeys('{', 'x.jwk')).rejects.toThrow('x.jwk is not JSON');
  });
});
