import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import {
  canonicalJson,
  canonicalJsonOfColumns,
  canonicalObject,
  PLAIN_TEXT_COLUMNS,
  chainHash,
  entryDigest,
  GENESIS_HASH,
  type ChainedFields,
} from './canonical-entry';

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);
const nullableText = fc.option(text, { nil: null });
const json = fc.jsonValue({ maxDepth: 4 });

const arbitraryEntry: fc.Arbitrary<ChainedFields> = fc.record({
  seq: fc.bigInt({ min: 1n, max: 2n ** 62n }).map(String),
  id: fc.bigInt({ min: 1n, max: 2n ** 62n }).map(String),
  eventId: fc.uuid(),
  timestamp: fc
    .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
    .map((d) => d.toISOString().replace('Z', '123Z')),
  actorId: text,
  actorRoles: fc.array(text, { maxLength: 4 }),
  actionType: fc.constantFrom('CREATE', 'READ', 'UPDATE', 'DELETE'),
  entityType: fc.stringMatching(/^[A-Z][A-Z0-9_]{0,10}$/),
  entityId: text,
  outcome: fc.constantFrom('SUCCESS', 'FAILURE', 'DENIED'),
  statusCode: fc.option(fc.integer({ min: 100, max: 599 }), { nil: null }),
  details: fc.option(fc.dictionary(text, json, { maxKeys: 6 }), { nil: null }),
  requestId: nullableText,
  correlationId: nullableText,
  ip: nullableText,
  userAgent: nullableText,
  method: nullableText,
  path: nullableText,
});

describe('canonical entry (hash version 1)', () => {
  it('is exactly RFC 8785 (the canonicalize package) of the version-1 object', () => {
    fc.assert(
      fc.property(arbitraryEntry, (entry) => {
        expect(canonicalJson(entry)).toBe(canonicalize(canonicalObject(entry)));
      }),
      { numRuns: 2000 },
    );
  });

  it('is RFC 8785 of the version-1 object whatever the types of the values (an export is any JSON)', () => {
    const anyValue = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.string({ unit: 'binary', maxLength: 10 }),
      fc.constantFrom(undefined, -0, 1e21, 'a\ud800', () => 1),
    );
    const fields = [
      ...['seq', 'id', 'eventId', 'timestamp', 'actorId', 'actorRoles', 'actionType'],
      ...['entityType', 'entityId', 'outcome', 'statusCode', 'details', 'requestId'],
      ...['correlationId', 'ip', 'userAgent', 'method', 'path', 'somethingElse'],
    ];
    const loose = fc.record(Object.fromEntries(fields.map((f) => [f, anyValue])), {
      requiredKeys: [],
    }) as unknown as fc.Arbitrary<ChainedFields>;
    const result = (f: () => string) => {
      try {
        return f();
      } catch (error) {
        return `error: ${(error as Error).message}`;
      }
    };
    fc.assert(
      fc.property(loose, (entry) => {
        expect(result(() => canonicalJson(entry))).toBe(
          result(() => canonicalize(canonicalObject(entry)) as string),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('is the same text from the columns the verifier reads (jsonb-style details, 2,000 cases)', () => {
    const jsonbStyle = (value: unknown): string =>
      Array.isArray(value)
        ? `[${value.map(jsonbStyle).join(', ')}]`
        : value !== null && typeof value === 'object'
          ? `{${Object.entries(value)
              .map(([k, v]) => `${JSON.stringify(k)}: ${jsonbStyle(v)}`)
              .join(', ')}}`
          : JSON.stringify(value);
    fc.assert(
      fc.property(arbitraryEntry, (entry) => {
        const columns = [
          entry.id,
          entry.eventId,
          entry.timestamp,
          entry.actorId,
          entry.actionType,
          entry.entityType,
          entry.entityId,
          entry.outcome,
          entry.statusCode === null ? null : String(entry.statusCode),
          entry.requestId,
          entry.correlationId,
          entry.ip,
          entry.userAgent,
          entry.method,
          entry.path,
          JSON.stringify(entry.actorRoles),
          entry.details === null ? null : jsonbStyle(entry.details),
        ];
        expect(canonicalJsonOfColumns(entry.seq, columns)).toBe(canonicalJson(entry));
        // Quoting alone is right exactly when the reader says the text columns are plain.
        const plain = columns
          .slice(0, PLAIN_TEXT_COLUMNS)
          // eslint-disable-next-line no-control-regex -- what JSON escapes
          .every((c) => c === null || !/["\\\u0000-\u001f\ud800-\udfff]/.test(c));
        if (plain)
          expect(canonicalJsonOfColumns(entry.seq, columns, 1, true)).toBe(canonicalJson(entry));
      }),
      { numRuns: 2000 },
    );
  });

  it('does not depend on the order of the fields or on fields version 1 does not cover', () => {
    fc.assert(
      fc.property(arbitraryEntry, (entry) => {
        const reversed = Object.fromEntries(Object.entries(entry).reverse()) as ChainedFields;
        const withExtra = { ...entry, hash: 'ab', tx: '12', somethingNew: 1 } as ChainedFields;
        expect(canonicalJson(reversed)).toBe(canonicalJson(entry));
        expect(canonicalJson(withExtra)).toBe(canonicalJson(entry));
      }),
    );
  });

  it('chains SHA-256(prevHash || SHA-256(JCS(entry)))', () => {
    const entry: ChainedFields = {
      seq: '1',
      id: '7',
      eventId: '00000000-0000-4000-8000-000000000001',
      timestamp: '2026-11-23T06:00:00.123456Z',
      actorId: 'alice',
      actorRoles: ['admin'],
      actionType: 'CREATE',
      entityType: 'MCP_DEFINITION',
      entityId: 'x',
      outcome: 'SUCCESS',
      statusCode: 201,
      details: { b: 1.0, a: 'é' },
      requestId: 'r',
      correlationId: 'r',
      ip: null,
      userAgent: null,
      method: 'POST',
      path: '/api/v1/mcp-definitions',
    };
    const json =
      '{"actionType":"CREATE","actorId":"alice","actorRoles":["admin"],"correlationId":"r",' +
      '"details":{"a":"é","b":1},"entityId":"x","entityType":"MCP_DEFINITION",' +
      '"eventId":"00000000-0000-4000-8000-000000000001","hashVersion":1,"id":"7","ip":null,' +
      '"method":"POST","outcome":"SUCCESS","path":"/api/v1/mcp-definitions","requestId":"r",' +
      '"seq":"1","statusCode":201,"timestamp":"2026-11-23T06:00:00.123456Z","userAgent":null}';
    expect(canonicalJson(entry)).toBe(json);
    const digest = createHash('sha256').update(json, 'utf8').digest();
    expect(entryDigest(entry)).toEqual(digest);
    expect(chainHash(GENESIS_HASH, digest)).toEqual(
      createHash('sha256')
        .update(Buffer.concat([Buffer.alloc(32), digest]))
        .digest(),
    );
  });

  it('refuses versions it does not know', () => {
    expect(() => canonicalJson({} as ChainedFields, 2)).toThrow('Unknown hash version 2');
  });
});
