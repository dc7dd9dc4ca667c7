import { Matches, ValidateBy, type ValidationOptions } from 'class-validator';
import { InvalidInputError } from '@/common/errors/domain-error';

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

/** Names of registry resources (MCP definitions, workflows): unique, URL- and shell-safe. */
export const RESOURCE_NAME = /^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$/;

export function IsResourceName(): PropertyDecorator {
  return Matches(RESOURCE_NAME, {
    message:
      'name must be 1-100 characters of a-z, 0-9, ".", "_", "-", starting and ending with a letter or digit',
  });
}

/**
 * PATCH bodies: a field is either left out or given a value. `@IsOptional` lets `null`
 * through, and a null would reach a NOT NULL column as a 500; refuse it here as a 400.
 */
export function rejectNullFields(dto: object): void {
  const nulls = Object.entries(dto)
    .filter(([, v]) => v === null)
    .map(([k]) => k);
  if (nulls.length > 0) throw new InvalidInputError(`${nulls.join(', ')} must not be null`);
}
