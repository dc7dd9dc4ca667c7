import { ValidateBy, type ValidationOptions } from 'class-validator';

/** A plain object whose keys match `keyPattern` and whose values are strings. */
export function IsStringRecord(
  opts: { maxKeys: number; keyPattern: RegExp; maxValueLength: number },
  validationOptions?: ValidationOptions,
): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isStringRecord',
      validator: {
        validate: (value: unknown) =>
          value !== null &&
          typeof value === 'object' &&
          !Array.isArray(value) &&
          Object.keys(value).length <= opts.maxKeys &&
          Object.entries(value).every(
            ([k, v]) =>
              opts.keyPattern.test(k) && typeof v === 'string' && v.length <= opts.maxValueLength,
          ),
        defaultMessage: (args) =>
          `${args?.property} must be an object of at most ${opts.maxKeys} string values ` +
          `(keys matching ${String(opts.keyPattern)}, values up to ${opts.maxValueLength} characters)`,
      },
    },
    validationOptions,
  );
}

/** A plain JSON object no larger than `maxBytes` once serialized. */
export function IsJsonObject(
  maxBytes: number,
  validationOptions?: ValidationOptions,
): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isJsonObject',
      validator: {
        validate: (value: unknown) =>
          value !== null &&
          typeof value === 'object' &&
          !Array.isArray(value) &&
          Buffer.byteLength(JSON.stringify(value)) <= maxBytes &&
          !JSON.stringify(value).includes('\\u0000'),
        defaultMessage: (args) =>
          `${args?.property} must be a JSON object of at most ${maxBytes} bytes`,
      },
    },
    validationOptions,
  );
}

/** Semantic Versioning 2.0.0 (semver.org's regular expression). */
export const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** Lower-case only, as the API returns them: one entity keeps one id in the audit trail. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
