import canonicalize from 'canonicalize';

/**
 * RFC 8785 (JCS) of a JSON value, exactly as the `canonicalize` package writes it, several
 * times faster on what `JSON.parse` returns (plain objects and arrays, strings, finite
 * numbers, booleans, null): a recursive walk without the package's cycle bookkeeping and
 * `toJSON` unwrapping. Anything else (an object with `toJSON`, a class instance, a boxed
 * primitive, nesting deeper than {@link MAX_DEPTH}, so also a cycle) is handed to the
 * package itself, so the two never differ. A property test holds them equal.
 */
export function jcs(value: unknown): string {
  return serialize(value, 0) ?? (canonicalize(value) as string);
}

/** Deeper than this, the package's iterative walk takes over (no stack overflow here). */
const MAX_DEPTH = 200;

type WellFormed = string & { isWellFormed(): boolean };

/** What JSON escapes (`"`, `\\`, controls) or what needs a closer look (surrogates). */
const NEEDS_CARE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JCS writes it: JSON.stringify's escaping, lone surrogates refused. */
export function jcsString(value: string): string {
  // Most strings need no escape: quoting them is all JSON.stringify would do, at half the cost.
  if (!NEEDS_CARE.test(value)) return '"' + value + '"';
  if (!(value as WellFormed).isWellFormed()) throw new Error('Lone surrogate is not allowed');
  return JSON.stringify(value);
}

/** Numbers as ECMAScript writes them (RFC 8785 §3.2.2.3); NaN and ±Infinity refused. */
function jcsNumber(value: number): string {
  if (Number.isNaN(value)) throw new Error('NaN is not allowed');
  if (!Number.isFinite(value)) throw new Error('Infinity is not allowed');
  return JSON.stringify(value);
}

const OBJECT_PROTOTYPE = Object.prototype;

/** The JCS text, undefined for what has none (undefined, functions, symbols), or null: ask the package. */
function serialize(value: unknown, depth: number): string | undefined | null {
  switch (typeof value) {
    case 'string':
      return jcsString(value);
    case 'number':
      return jcsNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // undefined, functions, symbols (dropped from objects, null in arrays); bigint throws
      // in the package as in JSON.stringify.
      return typeof value === 'bigint' ? null : undefined;
  }
  if (value === null) return 'null';
  if (depth >= MAX_DEPTH) return null;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype || 'toJSON' in value) return null;
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item = serialize(value[i], depth + 1);
      if (item === null) return null;
      out += item === undefined ? 'null' : item;
    }
    return out + ']';
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if ((proto !== OBJECT_PROTOTYPE && proto !== null) || 'toJSON' in (value as object)) return null;
  const object = value as Record<string, unknown>;
  // Default sort: by UTF-16 code units, the order RFC 8785 asks for.
  const keys = Object.keys(object).sort();
  let out = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const item = object[key];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    // The name before the value, as the package does (which error a bad entry names).
    const name = jcsString(key);
    const member = serialize(item, depth + 1);
    if (member === null) return null;
    if (first) first = false;
    else out += ',';
    out += name + ':' + member;
  }
  return out + '}';
}
