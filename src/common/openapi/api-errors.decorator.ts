import { applyDecorators, Param, type PipeTransform } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiServiceUnavailableResponse,
} from '@nestjs/swagger';
import { InvalidInputError } from '@/common/errors/domain-error';
import { ErrorResponseDto } from '@/common/errors/error-response.dto';
import { UUID } from '@/common/validation/validators';

export interface StandardErrors {
  /** 404: the route names a resource that may not exist (say what, e.g. 'No such run'). */
  notFound?: string | true;
  /** 409: the write can clash with the stored state (say when). */
  conflict?: string;
  /** 413: the route takes a JSON body (bodies above BODY_LIMIT are refused). */
  body?: boolean;
  /** 503: the route touches the database (every route but the public health check). */
  database?: boolean;
}

/**
 * The error answers a route can give, in the one error shape. 400 always (a malformed
 * header, query or path parameter); 401/403/429 come with `@Roles`. One bundle so the
 * document lists what the server really answers, and a generated client knows every body.
 *
 * @example
 * \@ApiStandardErrors({ notFound: 'No such definition', conflict: 'The name is taken', body: true })
 */
export function ApiStandardErrors(errors: StandardErrors = {}): MethodDecorator & ClassDecorator {
  const { notFound, conflict, body = false, database = true } = errors;
  const decorators = [
    ApiBadRequestResponse({
      type: ErrorResponseDto,
      description:
        'Invalid input: a field, query or path parameter, or header (nothing is written)',
    }),
  ];
  if (notFound) {
    decorators.push(
      ApiNotFoundResponse({
        type: ErrorResponseDto,
        description: notFound === true ? 'Not found' : notFound,
      }),
    );
  }
  if (conflict)
    decorators.push(ApiConflictResponse({ type: ErrorResponseDto, description: conflict }));
  if (body) {
    decorators.push(
      ApiPayloadTooLargeResponse({ type: ErrorResponseDto, description: 'The body is too large' }),
    );
  }
  if (database) {
    decorators.push(
      ApiServiceUnavailableResponse({
        type: ErrorResponseDto,
        // Retry-After is declared with the other shared headers when the document is built.
        description: 'The database is unreachable: retry after Retry-After seconds',
      }),
    );
  }
  return applyDecorators(...decorators);
}

/** Refuses a path parameter that does not match `pattern` with a 400 (not a 404). */
export class PatternPipe implements PipeTransform<string, string> {
  constructor(
    private readonly name: string,
    private readonly pattern: RegExp,
    private readonly rule: string,
  ) {}

  transform(value: string): string {
    if (!this.pattern.test(value)) throw new InvalidInputError(`${this.name} must be ${this.rule}`);
    return value;
  }
}

/** Refuses a path id that is not a UUID as it is stored (lower-case) with a 400, not a 404. */
export class UuidPipe extends PatternPipe {
  constructor(name: string) {
    super(name, UUID, 'a lower-case UUID');
  }
}

/**
 * A path parameter holding a UUID: validated (400 when malformed) and documented as such
 * (`format: uuid` and the pattern), so clients and the server agree.
 */
export function UuidParam(name = 'id'): ParameterDecorator {
  return Param(name, new UuidPipe(name));
}

/** The document side of `@UuidParam`, for the route (Nest does not infer it from a pipe). */
export function ApiUuidParam(name = 'id', description?: string): MethodDecorator {
  return ApiParam({
    name,
    description,
    schema: { type: 'string', format: 'uuid', pattern: UUID.source },
  });
}

/** The router refuses a path parameter longer than this with 414 (below Nest). */
export const MAX_PATH_PARAM_LENGTH = 100;

/**
 * Documents a free-form path parameter (not a UUID): its schema as the server checks it. (The
 * router's 414 for a parameter over `MAX_PATH_PARAM_LENGTH` is declared on every operation with
 * a path parameter when the document is built.)
 */
export function ApiPathParam(
  name: string,
  schema: { pattern?: string; minLength?: number; maxLength?: number },
  description?: string,
): MethodDecorator {
  return ApiParam({
    name,
    description,
    schema: { type: 'string', minLength: 1, maxLength: MAX_PATH_PARAM_LENGTH, ...schema },
  });
}
