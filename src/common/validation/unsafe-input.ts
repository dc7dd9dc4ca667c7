/**
 * Input no handler may see, decided once for every request (body, query, path parameters,
 * object keys) before Nest transforms or validates anything (see `createAdapter` in
 * bootstrap.ts):
 *
 * - NUL (`\u0000`): PostgreSQL cannot store it in `text` or `jsonb` → 400 naming the field.
 * - Nesting deeper than `MAX_JSON_DEPTH`: class-transformer and JSON.stringify recurse and
 *   overflow the stack on a few thousand levels; no document of this API needs more → 400.
 * - Lone UTF-16 surrogates (`"\ud800"` in JSON): not text. Columns of type `text` already
 *   stored them as U+FFFD while `jsonb` refused them; they become U+FFFD here, so every field
 *   stores, returns and audits the same thing.
 *
 * The walk is iterative, so measuring a hostile document cannot overflow the stack itself.
 */
export const MAX_JSON_DEPTH = 64;

/** A surrogate code point that is not half of a pair (`String#isWellFormed` is ES2024). */
const LONE_SURROGATE = /\p{Cs}/u;
const LONE_SURROGATES = /\p{Cs}/gu;

const wellFormed = (s: string): string =>
  LONE_SURROGATE.test(s) ? s.replace(LONE_SURROGATES, '\uFFFD') : s;

export interface InputCheck {
  /** The input with lone surrogates replaced (the same object, changed in place). */
  value: unknown;
  /** A message naming the first offending field; undefined when the input is acceptable. */
  problem?: string;
}

export function checkInput(value: unknown, root: string): InputCheck {
  if (typeof value === 'string') {
    return value.includes('\u0000')
      ? { value, problem: `${describe(root, '')} must not contain ${NUL}` }
      : { value: wellFormed(value) };
  }
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) {
      return {
        value,
        problem: `${describe(root, path)} is nested too deeply (at most ${MAX_JSON_DEPTH} levels)`,
      };
    }
    const container = v as Record<string, unknown>;
    for (const key of Object.keys(container)) {
      if (key.includes('\u0000')) {
        return { value, problem: `${describe(root, path)} has a key that contains ${NUL}` };
      }
      const childPath = path ? `${path}.${key}` : key;
      let item = container[key];
      if (typeof item === 'string') {
        if (item.includes('\u0000')) {
          return { value, problem: `${describe(root, childPath)} must not contain ${NUL}` };
        }
        item = container[key] = wellFormed(item);
      }
      const safeKey = wellFormed(key);
      if (safeKey !== key) {
        delete container[key];
        container[safeKey] = item;
      }
      if (item !== null && typeof item === 'object') {
        stack.push({ value: item, path: childPath, depth: depth + 1 });
      }
    }
  }
  return { value };
}

/** True when `value` holds a NUL or a lone surrogate (decoded cursors). */
export function isUnsafeText(value: string): boolean {
  return value.includes('\u0000') || LONE_SURROGATE.test(value);
}

const NUL = 'NUL (\\u0000) characters';

/** `name`, `steps.0.name`, `query parameter actorId`, `path parameter id`, `the body`. */
function describe(root: string, path: string): string {
  if (root === 'body') return path || 'the request body';
  return path ? `${root} ${path}` : root;
}
