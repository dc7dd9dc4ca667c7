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
// eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
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
    case 'bigint':
      // The package throws, as JSON.stringify does.
      return null;
    case 'undefined':
    case 'function':
    case 'symbol':
      // Dropped from objects, null in arrays.
      return undefined;
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
  if ((proto !== OBJECT_PROTOTYPE && proto !== null) || 'toJSON' in value) return null;
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

/**
 * `jcs(JSON.parse(text))` without building the value: the JSON text is rewritten into its
 * RFC 8785 form as it is scanned (members sorted, numbers as ECMAScript writes them, strings
 * with JSON.stringify's escapes). What this scanner does not take as it is (a duplicate key,
 * a raw control character or surrogate in a string, invalid JSON, deep nesting) goes the
 * general way, so the answer, or the error, is always that of `jcs(JSON.parse(text))`. The
 * verifier reads `details` as PostgreSQL's jsonb text; a property test holds the two equal.
 */
export function jcsOfJsonText(text: string): string {
  try {
    const scanner = new JsonScanner(text);
    const out = scanner.value(0);
    scanner.end();
    return out;
  } catch {
    // Whatever stopped the scanner (GENERAL, or a value JCS refuses), the general way gives
    // the answer, or the error, in its own order.
    return jcs(JSON.parse(text));
  }
}

/** Thrown inside the scanner: leave this text to JSON.parse and jcs. */
const GENERAL = new Error('general path');

/** Raw characters a JSON string cannot hold as they are, or that need a closer look. */
// eslint-disable-next-line no-control-regex -- control characters JSON cannot hold raw
const RAW_CARE = /[\u0000-\u001f\ud800-\udfff]/;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class JsonScanner {
  private i = 0;
  /** Whether any string may hold a raw control character or surrogate (checked per string). */
  private readonly careful: boolean;
  /** Whether any string may hold an escape. */
  private readonly escapes: boolean;
  /** The decoded text of the last string scanned. */
  private decoded = '';

  constructor(private readonly t: string) {
    this.careful = RAW_CARE.test(t);
    this.escapes = t.indexOf('\\') !== -1;
  }

  private skip(): void {
    const t = this.t;
    let c = t.charCodeAt(this.i);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = t.charCodeAt(++this.i);
  }

  end(): void {
    this.skip();
    if (this.i !== this.t.length) throw GENERAL;
  }

  value(depth: number): string {
    if (depth > MAX_DEPTH) throw GENERAL;
    this.skip();
    const t = this.t;
    const c = t.charCodeAt(this.i);
    if (c === 34 /* " */) return this.string();
    if (c === 123 /* { */) return this.object(depth);
    if (c === 91 /* [ */) {
      this.i++;
      this.skip();
      if (t.charCodeAt(this.i) === 93 /* ] */) {
        this.i++;
        return '[]';
      }
      let out = '[';
      for (;;) {
        out += this.value(depth + 1);
        this.skip();
        const d = t.charCodeAt(this.i++);
        if (d === 93) return out + ']';
        if (d !== 44 /* , */) throw GENERAL;
        out += ',';
      }
    }
    if (t.startsWith('true', this.i)) return this.literal(4, 'true');
    if (t.startsWith('false', this.i)) return this.literal(5, 'false');
    if (t.startsWith('null', this.i)) return this.literal(4, 'null');
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(t);
    if (!m) throw GENERAL;
    this.i += m[0].length;
    return jcsNumber(Number(m[0]));
  }

  private literal(length: number, text: string): string {
    this.i += length;
    return text;
  }

  private object(depth: number): string {
    const t = this.t;
    this.i++;
    this.skip();
    if (t.charCodeAt(this.i) === 125 /* } */) {
      this.i++;
      return '{}';
    }
    const names: string[] = [];
    const members: string[] = [];
    for (;;) {
      this.skip();
      if (t.charCodeAt(this.i) !== 34) throw GENERAL;
      const name = this.string();
      const key = this.decoded;
      this.skip();
      if (t.charCodeAt(this.i++) !== 58 /* : */) throw GENERAL;
      const member = name + ':' + this.value(depth + 1);
      // Insertion in order of the names' UTF-16 code units, as RFC 8785 asks (objects are small).
      let k = names.length;
      while (k > 0 && names[k - 1] > key) {
        names[k] = names[k - 1];
        members[k] = members[k - 1];
        k--;
      }
      // JSON.parse keeps the last of two equal names: leave that to it.
      if (k > 0 && names[k - 1] === key) throw GENERAL;
      names[k] = key;
      members[k] = member;
      this.skip();
      const d = t.charCodeAt(this.i++);
      if (d === 125) break;
      if (d !== 44) throw GENERAL;
    }
    return '{' + members.join(',') + '}';
  }

  /** The string starting at the quote at `i`, in its JCS form; `decoded` is its text. */
  private string(): string {
    const t = this.t;
    const start = this.i + 1;
    let q = t.indexOf('"', start);
    if (this.escapes)
      for (;;) {
        if (q < 0) throw GENERAL;
        let slashes = 0;
        while (t.charCodeAt(q - 1 - slashes) === 92 /* \ */ && q - 1 - slashes >= start) slashes++;
        if (slashes % 2 === 0) break;
        q = t.indexOf('"', q + 1);
      }
    else if (q < 0) throw GENERAL;
    this.i = q + 1;
    const raw = t.slice(start, q);
    if (this.careful && RAW_CARE.test(raw)) throw GENERAL;
    if (!this.escapes || raw.indexOf('\\') === -1) {
      // Nothing to escape: the text as it stands, quotes included.
      this.decoded = raw;
      return t.slice(start - 1, q + 1);
    }
    try {
      this.decoded = JSON.parse(t.slice(start - 1, q + 1)) as string;
    } catch {
      throw GENERAL;
    }
    return jcsString(this.decoded);
  }
}
