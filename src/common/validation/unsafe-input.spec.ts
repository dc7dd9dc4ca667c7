import { checkInput, isUnsafeText, MAX_JSON_DEPTH } from './unsafe-input';

function nested(levels: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

const problemOf = (value: unknown, root = 'body') => checkInput(value, root).problem;

describe(checkInput.name, () => {
  it('accepts ordinary input, emoji (surrogate pairs) included, unchanged', () => {
    const input = { a: ['x', { b: 'café 😀' }], n: 1, z: null };
    expect(checkInput(input, 'body')).toEqual({
      value: { a: ['x', { b: 'café 😀' }], n: 1, z: null },
    });
  });

  it('names the field holding a NUL, by its path', () => {
    expect(problemOf({ steps: [{ name: 'a\u0000' }] })).toBe(
      'steps.0.name must not contain NUL (\\u0000) characters',
    );
    expect(problemOf({ actorId: '\u0000' }, 'query parameter')).toBe(
      'query parameter actorId must not contain NUL (\\u0000) characters',
    );
    expect(problemOf('\u0000')).toBe('the request body must not contain NUL (\\u0000) characters');
  });

  it('checks keys too', () => {
    expect(problemOf({ env: { 'A\u0000': 'x' } })).toBe(
      'env has a key that contains NUL (\\u0000) characters',
    );
  });

  it('replaces unpaired surrogates, in values and keys, with U+FFFD', () => {
    expect(checkInput({ d: ['x\ud800', { '\udc00k': 'y' }] }, 'body')).toEqual({
      value: { d: ['x\ufffd', { '\ufffdk': 'y' }] },
    });
    expect(checkInput('\ud83d', 'body')).toEqual({ value: '\ufffd' });
  });

  it(`allows ${MAX_JSON_DEPTH} levels of nesting and refuses more, without recursing`, () => {
    expect(problemOf(nested(MAX_JSON_DEPTH))).toBeUndefined();
    expect(problemOf(nested(MAX_JSON_DEPTH + 1))).toMatch(/nested too deeply/);
    expect(problemOf({ m: nested(200_000) })).toMatch(/^m\.0\.0.* is nested too deeply/);
  });
});

describe(isUnsafeText.name, () => {
  it('is true for NUL and lone surrogates only', () => {
    expect(['a\u0000', '\ud83d', 'ok', '😀'].map(isUnsafeText)).toEqual([true, true, false, false]);
  });
});
