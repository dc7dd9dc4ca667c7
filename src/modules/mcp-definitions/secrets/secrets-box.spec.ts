import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { Sealed, SecretsBox, SecretUnreadableError, sealedMapTransformer } from './secrets-box';

const ID = '0b0f3a52-6d0e-4a4e-9a55-5c2f3c1d7e01';
const OTHER_ID = '7a1c9e04-2b3d-4f5e-8a6b-9c0d1e2f3a4b';
const slot = { definitionId: ID, field: 'env' as const, name: 'TOKEN' };

describe(SecretsBox.name, () => {
  const sut = new SecretsBox(randomBytes(32));

  it('opens what it sealed, with a fresh IV each time and no plain text in the stored form', () => {
    const a = sut.seal('s3cret-value', slot);
    const b = sut.seal('s3cret-value', slot);
    expect(sut.open(a, slot)).toBe('s3cret-value');
    expect(a.equals(b)).toBe(false);
    expect(JSON.stringify(a.stored)).not.toContain('s3cret');
    expect(a.stored).toMatchObject({ v: 1, kid: sut.kid });
    expect(sut.kid).toMatch(/^[0-9a-f]{8}$/);
  });

  it('serializes and inspects a sealed value as "[REDACTED]"', () => {
    const sealed = sut.seal('s3cret-value', slot);
    expect(JSON.stringify({ env: { TOKEN: sealed } })).toBe('{"env":{"TOKEN":"[REDACTED]"}}');
    expect(inspect({ sealed })).not.toContain(JSON.stringify(sealed.stored).slice(10, 30));
    expect(Object.keys(sealed)).toEqual([]);
  });

  it('refuses a value sealed with another key, naming both key ids', () => {
    const other = new SecretsBox(randomBytes(32));
    const sealed = other.seal('s3cret-value', slot);
    expect(() => sut.open(sealed, slot)).toThrow(SecretUnreadableError);
    expect(() => sut.open(sealed, slot)).toThrow(
      `Cannot open env.TOKEN of MCP definition ${ID}: it was sealed with key ${other.kid}, but the configured key (MCP_SECRETS_KEY) is ${sut.kid}`,
    );
  });

  it('refuses a wrong key even when the key id is forged', () => {
    const other = new SecretsBox(randomBytes(32));
    const forged = Sealed.of({
      ...(other.seal('x', slot).stored as object),
      kid: sut.kid,
    } as never);
    expect(() => sut.open(forged, slot)).toThrow(
      /sealed for another definition or name, or altered/,
    );
  });

  it('binds a ciphertext to its definition, field and name', () => {
    const sealed = sut.seal('s3cret-value', slot);
    for (const moved of [
      { ...slot, definitionId: OTHER_ID },
      { ...slot, name: 'OTHER' },
      { ...slot, field: 'headers' as const },
    ]) {
      expect(() => sut.open(sealed, moved)).toThrow(
        /sealed for another definition or name, or altered/,
      );
    }
  });

  it('refuses an altered ciphertext', () => {
    const stored = sut.seal('s3cret-value', slot).stored as { ct: string };
    const ct = Buffer.from(stored.ct, 'base64');
    ct[0] ^= 1;
    const altered = Sealed.fromStored({ ...stored, ct: ct.toString('base64') });
    expect(() => sut.open(altered, slot)).toThrow(SecretUnreadableError);
  });

  it('patches a map: sets, replaces, keeps what is not given, removes null, keeps an unchanged envelope', () => {
    const current = sut.sealMap(ID, 'env', { KEEP: 'k', SAME: 's', CHANGE: 'old', DROP: 'd' });
    const next = sut.patchMap(ID, 'env', current, {
      SAME: 's',
      CHANGE: 'new',
      DROP: null,
      ADD: 'a',
      ABSENT: null,
    });
    expect(Object.keys(next).sort()).toEqual(['ADD', 'CHANGE', 'KEEP', 'SAME']);
    expect(sut.openMap(ID, 'env', next)).toEqual({ KEEP: 'k', SAME: 's', CHANGE: 'new', ADD: 'a' });
    expect(next.KEEP).toBe(current.KEEP);
    expect(next.SAME).toBe(current.SAME);
    expect(next.CHANGE.equals(current.CHANGE)).toBe(false);
  });

  it('treats names such as __proto__ as names', () => {
    const next = sut.patchMap(ID, 'env', {}, JSON.parse('{"__proto__":"p","constructor":"c"}'));
    expect(Object.keys(next).sort()).toEqual(['__proto__', 'constructor']);
    expect(sut.openMap(ID, 'env', next)).toEqual(JSON.parse('{"__proto__":"p","constructor":"c"}'));
  });

  it('seals a legacy plain-text value that a PATCH keeps', () => {
    const legacy = { OLD: Sealed.fromStored('plain') };
    const next = sut.patchMap(ID, 'env', legacy, {});
    expect(next.OLD.kid).toBe(sut.kid);
    expect(sut.open(next.OLD, { ...slot, name: 'OLD' })).toBe('plain');
  });

  it('stores envelopes through the column transformer and reads them back', () => {
    const map = sut.sealMap(ID, 'env', { TOKEN: 'v' });
    const stored = sealedMapTransformer.to(map) as Record<string, unknown>;
    expect(JSON.stringify(stored)).toContain('"ct"');
    const back = sealedMapTransformer.from(JSON.parse(JSON.stringify(stored))) as typeof map;
    expect(back.TOKEN.equals(map.TOKEN)).toBe(true);
    expect(sut.open(back.TOKEN, slot)).toBe('v');
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new SecretsBox(randomBytes(16), 'test')).toThrow(/not 32 bytes/);
  });
});
