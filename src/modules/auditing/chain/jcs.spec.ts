import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { jcs, jcsOfJsonText } from './jcs';

/** The package's answer or its error, so that both are compared. */
function outcome(f: () => unknown): { ok: unknown } | { error: string } {
  try {
    return { ok: f() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** Any UTF-16 text: full code points, and now and then a lone surrogate. */
const anyText = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 4 }), fc.integer({ min: 0xd800, max: 0xdfff }))
      .map(([s, unit]) => s + String.fromCharCode(unit)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('\u2028', '\u007f', '\u0000\u001f', '"\\/', '\ud83d\ude00'),
  },
);

/** Numbers where JCS's serialization has its corners. */
const anyNumber = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(
    -0,
    0,
    1e21,
    1e-7,
    1e20,
    123456789012345680000,
    5e-324,
    Number.MAX_VALUE,
    0.1 + 0.2,
  ),
);

const { value: anyJson } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    anyNumber,
    anyText,
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(anyText, tie('value'), { maxKeys: 6 }),
}));

describe('jcs (RFC 8785, the fast path)', () => {
  it('writes what the canonicalize package writes, or fails as it does', () => {
    fc.assert(
      fc.property(anyJson, (value) => {
        expect(outcome(() => jcs(value))).toEqual(outcome(() => canonicalize(value)));
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips through JSON.parse, as the verifier reads details', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const parsed = JSON.parse(JSON.stringify(value)) as unknown;
        expect(jcs(parsed)).toBe(canonicalize(parsed));
      }),
      { numRuns: 1000 },
    );
  });

  it('knows the corners: numbers, key order by UTF-16 code units, escapes', () => {
    expect(jcs({ b: [1e21, -0, 1e-7, 0.1 + 0.2], a: 1.0 })).toBe(
      '{"a":1,"b":[1e+21,0,1e-7,0.30000000000000004]}',
    );
    // U+1F600 (a surrogate pair, D83D…) sorts before U+FB33 in UTF-16, after it in code points.
    expect(jcs({ '\ufb33': 1, '\ud83d\ude00': 2, '\u0080': 3 })).toBe(
      '{"\u0080":3,"\ud83d\ude00":2,"\ufb33":1}',
    );
    expect(jcs({ s: '\u0000\n"\\\u2028\u007f' })).toBe('{"s":"\\u0000\\n\\"\\\\\u2028\u007f"}');
    expect(() => jcs({ s: 'a\ud800' })).toThrow('Lone surrogate is not allowed');
    expect(() => jcs([Number.NaN])).toThrow('NaN is not allowed');
    expect(() => jcs({ x: Infinity })).toThrow('Infinity is not allowed');
  });

  it('leaves what is not plain JSON to the package (toJSON, dates, undefined, depth)', () => {
    const odd = {
      d: new Date(0),
      t: { toJSON: () => 'x' },
      u: undefined,
      f: () => 1,
      a: [undefined, () => 1],
      n: Object.assign(Object.create(null) as object, { z: 1, y: 2 }),
    };
    expect(jcs(odd)).toBe(canonicalize(odd));
    let deep: unknown = 'leaf';
    for (let i = 0; i < 5000; i++) deep = i % 2 ? [deep] : { k: deep };
    expect(jcs(deep)).toBe(canonicalize(deep));
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => jcs(cycle)).toThrow('Circular reference detected');
  });
});

describe('jcsOfJsonText (RFC 8785 straight from JSON text, as jsonb prints it)', () => {
  /** JSON text the way PostgreSQL prints jsonb: `": "` and `", "` between members. */
  function jsonbStyle(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(jsonbStyle).join(', ')}]`;
    if (value !== null && typeof value === 'object')
      return `{${Object.entries(value)
        .map(([k, v]) => `${JSON.stringify(k)}: ${jsonbStyle(v)}`)
        .join(', ')}}`;
    return JSON.stringify(value);
  }
  const texts = fc.oneof(
    anyJson.map((v) => JSON.stringify(v) ?? 'null'),
    anyJson.map((v) => JSON.stringify(v, null, 2) ?? 'null'),
    anyJson.map(jsonbStyle),
    // Numbers as jsonb keeps them (numeric: 1.0, 1000000000000000000000, 0.000001).
    fc
      .tuple(fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }), fc.nat({ max: 9 }))
      .map(([n, zeros]) => `{"n": ${n}.${'0'.repeat(zeros + 1)}, "m": [${n}, -0, 1E2, 1e-7]}`),
    // Duplicate names, escapes, and text that is not JSON.
    fc.constantFrom(
      '{"a": 1, "a": 2}',
      '{"b": "\\u00e9\\n\\"", "a\\u0000": "\\ud83d\\ude00"}',
      '{"x": "\\ud800"}',
      '{"x": 1e400}',
      '{"a": 01}',
      '[1,]',
      '{"a" 1}',
      'tru',
      ' "s" ',
      '"raw \u0001"',
    ),
    fc.string({ maxLength: 12 }),
  );

  it('writes what jcs(JSON.parse(text)) writes, or fails as it does (3,000 cases)', () => {
    fc.assert(
      fc.property(texts, (text) => {
        expect(outcome(() => jcsOfJsonText(text))).toEqual(
          outcome(() => canonicalize(JSON.parse(text))),
        );
      }),
      { numRuns: 3000 },
    );
  });
});
