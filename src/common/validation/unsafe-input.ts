/**
 * Input no field may carry, checked once for every request (body, query, path parameters)
 * before Nest transforms or validates anything (see `createAdapter` in bootstrap.ts):
 *
 * - NUL (`\u0000`): PostgreSQL cannot store it in `text` or `jsonb`.
 * - Lone UTF-16 surrogates (`"\ud800"` in JSON): not text; stored, they would silently become
 *   U+FFFD, so the caller would not read back what they wrote.
 * - Nesting deeper than `MAX_JSON_DEPTH`: class-transformer and JSON.stringify recurse and
 *   overflow the stack on a few thousand levels; no document of this API needs more than a few.
 *
 * The walk is iterative, so measuring a hostile document cannot overflow the stack itself.
 */
export const MAX_JSON_DEPTH = 64;

/** A message naming the first offending field, or undefined when the input is clean. */
export function findUnsafeInput(value: unknown, root: string): string | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) return `${describe(root, path)} must not contain ${problem}`;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) {
      return `${describe(root, path)} is nested too deeply (at most ${MAX_JSON_DEPTH} levels)`;
    }
    const entries = Array.isArray(v)
      ? v.map((item, i) => [String(i), item] as const)
      : Object.entries(v as Record<string, unknown>);
    for (const [key, item] of entries) {
      const problem = textProblem(key);
      if (problem) return `${describe(root, path)} has a key that contains ${problem}`;
      stack.push({ value: item, path: path ? `${path}.${key}` : key, depth: depth + 1 });
    }
  }
  return undefined;
}

/** True when `value` holds a NUL or a lone surrogate (decoded cursors, headers). */
export function isUnsafeText(value: string): boolean {
  return textProblem(value) !== undefined;
}

/** A surrogate code point that is not half of a pair (`String#isWellFormed` is ES2024). */
const LONE_SURROGATE = /\p{Cs}/u;

function textProblem(value: string): string | undefined {
  if (value.includes('\u0000')) return 'NUL (\\u0000) characters';
  if (LONE_SURROGATE.test(value)) return 'unpaired UTF-16 surrogates';
  return undefined;
}

/** `name`, `steps.0.name`, `query parameter actorId`, `path parameter id`, `the body`. */
function describe(root: string, path: string): string {
  if (root === 'body') return path || 'the request body';
  return path ? `${root} ${path}` : root;
}
