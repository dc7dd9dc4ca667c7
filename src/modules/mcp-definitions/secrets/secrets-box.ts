import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { ValueTransformer } from 'typeorm';
import { REDACTED } from '@/modules/auditing';

/** The fields of a definition whose values are secrets. */
export type SecretField = 'env' | 'headers';

/** Where a secret lives: its ciphertext is bound to exactly this (the AEAD's associated data). */
export interface SecretSlot {
  definitionId: string;
  field: SecretField;
  name: string;
}

/**
 * One sealed value as stored in the jsonb map: AES-256-GCM, a fresh 96-bit IV per value,
 * `kid` = the first 8 hex digits of sha256(key) so a wrong key is named, not guessed at.
 */
export interface Envelope {
  v: 1;
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}

/**
 * A secret as the entity holds it: opaque. Serialized (API responses, logs, audit snapshots)
 * it is `"[REDACTED]"`, so an entity can be returned or logged without leaking anything.
 * Only `SecretsBox.open` reads it. A value written before secrets were sealed (plain text) is
 * held the same way until the start-up step seals it.
 */
export class Sealed {
  readonly #stored: Envelope | string;

  private constructor(stored: Envelope | string) {
    this.#stored = stored;
  }

  /** From the database's form; anything that is not an envelope is legacy plain text. */
  static fromStored(value: unknown): Sealed {
    return new Sealed(isEnvelope(value) ? value : String(value));
  }

  static of(envelope: Envelope): Sealed {
    return new Sealed(envelope);
  }

  /** What the database stores. */
  get stored(): Envelope | string {
    return this.#stored;
  }

  get kid(): string | null {
    return typeof this.#stored === 'string' ? null : this.#stored.kid;
  }

  /** TypeORM's change detection compares jsonb values with `equals` when it exists. */
  equals(other: unknown): boolean {
    if (!(other instanceof Sealed)) return false;
    const a = this.#stored;
    const b = other.#stored;
    if (typeof a === 'string' || typeof b === 'string') return a === b;
    return a.kid === b.kid && a.iv === b.iv && a.tag === b.tag && a.ct === b.ct && a.v === b.v;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

export type SealedMap = Record<string, Sealed>;

/** The jsonb column ⇄ a map of `Sealed` (used by the entity's `env` and `headers`). */
export const sealedMapTransformer: ValueTransformer = {
  to: (map: SealedMap | null | undefined) =>
    map && Object.fromEntries(Object.entries(map).map(([name, s]) => [name, s.stored])),
  from: (raw: Record<string, unknown> | null) =>
    raw && Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Sealed.fromStored(v)])),
};

export function isEnvelope(value: unknown): value is Envelope {
  if (value === null || typeof value !== 'object') return false;
  const e = value as Record<string, unknown>;
  return (
    e.v === 1 &&
    typeof e.kid === 'string' &&
    typeof e.iv === 'string' &&
    typeof e.tag === 'string' &&
    typeof e.ct === 'string'
  );
}

/** A secret that cannot be opened: wrong key, or a ciphertext moved or altered. */
export class SecretUnreadableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export const keyId = (key: Buffer): string =>
  createHash('sha256').update(key).digest('hex').slice(0, 8);

const describe = (slot: SecretSlot) =>
  `${slot.field}.${slot.name} of MCP definition ${slot.definitionId}`;
const aad = (slot: SecretSlot) =>
  Buffer.from(JSON.stringify(['mcp_definitions', slot.definitionId, slot.field, slot.name]));

/**
 * Seals and opens MCP definitions' secrets with one AES-256-GCM key. The ciphertext is bound
 * to its slot (definition id, field, name) as associated data: copied to another definition
 * or name, it does not open.
 *
 * @example
 * const sealed = box.seal('s3cret', { definitionId, field: 'env', name: 'TOKEN' });
 * box.open(sealed, { definitionId, field: 'env', name: 'TOKEN' }); // 's3cret'
 */
export class SecretsBox {
  readonly kid: string;
  readonly #key: Buffer;

  /** @param source where the key came from, for messages (`MCP_SECRETS_KEY` or a file path) */
  constructor(
    key: Buffer,
    readonly source = 'MCP_SECRETS_KEY',
  ) {
    if (key.length !== 32) throw new Error(`The secrets key from ${source} is not 32 bytes`);
    this.#key = Buffer.from(key);
    this.kid = keyId(key);
  }

  seal(plaintext: string, slot: SecretSlot): Sealed {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(aad(slot));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Sealed.of({
      v: 1,
      kid: this.kid,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ct: ct.toString('base64'),
    });
  }

  /** The plain text; throws `SecretUnreadableError` saying why it cannot (never what it holds). */
  open(sealed: Sealed, slot: SecretSlot): string {
    const stored = sealed.stored;
    if (typeof stored === 'string') return stored; // legacy plain text, sealed at the next start
    if (stored.kid !== this.kid) {
      throw new SecretUnreadableError(
        `Cannot open ${describe(slot)}: it was sealed with key ${stored.kid}, but the configured ` +
          `key (${this.source}) is ${this.kid}`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(stored.iv, 'base64'));
      decipher.setAAD(aad(slot));
      decipher.setAuthTag(Buffer.from(stored.tag, 'base64'));
      const plain = Buffer.concat([
        decipher.update(Buffer.from(stored.ct, 'base64')),
        decipher.final(),
      ]);
      return plain.toString('utf8');
    } catch {
      throw new SecretUnreadableError(
        `Cannot open ${describe(slot)} with key ${this.kid}: it was sealed for another ` +
          `definition or name, or altered`,
      );
    }
  }

  /** Every value sealed for `definitionId` (a new definition). */
  sealMap(definitionId: string, field: SecretField, values: Record<string, string>): SealedMap {
    return Object.fromEntries(
      Object.entries(values).map(([name, v]) => [
        name,
        this.seal(v, { definitionId, field, name }),
      ]),
    );
  }

  /**
   * A PATCH of a secret map: each given name is set (a string) or removed (`null`); names not
   * given are kept. A value sent again unchanged keeps its envelope, so the audit diff, which
   * compares stored forms, names exactly the names whose value changed.
   */
  patchMap(
    definitionId: string,
    field: SecretField,
    current: SealedMap,
    patch: Record<string, string | null>,
  ): SealedMap {
    // A Map: names such as `__proto__` or `constructor` are names like any other.
    const next = new Map(Object.entries(current));
    for (const [name, value] of Object.entries(patch)) {
      const slot = { definitionId, field, name };
      const kept = next.get(name);
      if (value === null) next.delete(name);
      else if (!(kept && this.holds(kept, slot, value))) next.set(name, this.seal(value, slot));
    }
    // A kept value still in legacy plain text is sealed now.
    for (const [name, s] of next)
      if (typeof s.stored === 'string')
        next.set(name, this.seal(s.stored, { definitionId, field, name }));
    return Object.fromEntries(next);
  }

  openMap(definitionId: string, field: SecretField, map: SealedMap): Record<string, string> {
    return Object.fromEntries(
      Object.entries(map).map(([name, s]) => [name, this.open(s, { definitionId, field, name })]),
    );
  }

  private holds(sealed: Sealed, slot: SecretSlot, value: string): boolean {
    try {
      return typeof sealed.stored !== 'string' && this.open(sealed, slot) === value;
    } catch {
      return false; // unreadable: replace it
    }
  }
}
