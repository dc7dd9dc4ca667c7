import {
  ArgumentsHost,
  Catch,
  HttpException,
  HttpStatus,
  Inject,
  Logger,
  Optional,
  type ExceptionFilter,
} from '@nestjs/common';
import { ClsService } from 'nestjs-cls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { QueryFailedError } from 'typeorm';
import type { RequestContext } from '@/common/context/request-context';
import { serializeError } from '@/common/logging/logging.module';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from './database-unavailable';
import { DomainError } from './domain-error';
import {
  HTTP_ERROR_OBSERVERS,
  type ErrorBody,
  type HttpErrorObserver,
} from './http-error-observer';

export type { ErrorBody };

/** PostgreSQL error codes that are the caller's fault, not ours. */
const PG_CLIENT_ERRORS: Record<string, HttpStatus> = {
  '23505': HttpStatus.CONFLICT, // unique_violation
  '23503': HttpStatus.CONFLICT, // foreign_key_violation
  '22P02': HttpStatus.BAD_REQUEST, // invalid_text_representation
  '22003': HttpStatus.BAD_REQUEST, // numeric_value_out_of_range
  '22007': HttpStatus.BAD_REQUEST, // invalid_datetime_format
  '22008': HttpStatus.BAD_REQUEST, // datetime_field_overflow
  '23502': HttpStatus.BAD_REQUEST, // not_null_violation
  '23514': HttpStatus.BAD_REQUEST, // check_violation
  '22001': HttpStatus.BAD_REQUEST, // string_data_right_truncation
  '54000': HttpStatus.PAYLOAD_TOO_LARGE, // program_limit_exceeded (e.g. jsonb too large)
};

function reasonPhrase(status: number): string {
  const name = HttpStatus[status] as string | undefined;
  return name
    ? name
        .toLowerCase()
        .split('_')
        .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
        .join(' ')
    : 'Error';
}

/**
 * The one place errors become HTTP: Nest's `{ statusCode, message, error }` plus the
 * request id. Domain errors map to their status; a database that cannot be reached is a 503
 * with `Retry-After`; unknown errors are logged (with the request id, by the request-scoped
 * logger) and answered as a bare 500.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Exceptions');

  constructor(
    private readonly cls: ClsService<RequestContext>,
    @Optional()
    @Inject(HTTP_ERROR_OBSERVERS)
    private readonly observers: HttpErrorObserver[] | null = null,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const body = this.toBody(exception);
    // Outside a route (404, body-parser errors) the CLS context may not exist yet.
    body.requestId =
      (this.cls.isActive() ? this.cls.get('requestId') : undefined) ??
      http.getRequest<FastifyRequest>().id;
    if (body.statusCode >= 500) {
      this.logger.error(
        { err: serializeError(exception), requestId: body.requestId },
        exception instanceof Error ? exception.message : 'Unhandled error',
      );
    }
    // Unavailable, not broken: the same request may succeed shortly.
    if (body.statusCode === 503) void reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
    this.notify(exception, body, host);
    void reply.status(body.statusCode).send(body);
  }

  /** Observers (e.g. the audit trail's record of failed attempts) never change the response. */
  private notify(exception: unknown, body: ErrorBody, host: ArgumentsHost): void {
    for (const observer of this.observers ?? []) {
      try {
        observer.observe(exception, { ...body }, host);
      } catch (error) {
        this.logger.error(
          { err: serializeError(error), requestId: body.requestId },
          'An HTTP error observer failed; the error response is sent regardless',
        );
      }
    }
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      if (typeof response === 'string') {
        return { statusCode: status, message: response, error: reasonPhrase(status) };
      }
      const r = response as Partial<ErrorBody>;
      return {
        statusCode: status,
        message: r.message ?? exception.message,
        error: r.error ?? reasonPhrase(status),
      };
    }
    if (exception instanceof DomainError) {
      return {
        statusCode: exception.status,
        message: exception.messages ?? exception.message,
        error: reasonPhrase(exception.status),
      };
    }
    const fastifyStatus = (exception as { statusCode?: unknown } | null)?.statusCode;
    if (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500) {
      return {
        statusCode: fastifyStatus,
        message: (exception as Error).message,
        error: reasonPhrase(fastifyStatus),
      };
    }
    if (exception instanceof QueryFailedError) {
      const code = (exception.driverError as { code?: string } | undefined)?.code ?? '';
      const status = PG_CLIENT_ERRORS[code];
      if (status) {
        const detail = (exception.driverError as { detail?: string }).detail;
        return {
          statusCode: status,
          message: status === HttpStatus.CONFLICT && detail ? detail : reasonPhrase(status),
          error: reasonPhrase(status),
        };
      }
    }
    if (isDatabaseUnavailable(exception)) {
      return {
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        message: 'The database cannot be reached right now; retry shortly',
        error: reasonPhrase(HttpStatus.SERVICE_UNAVAILABLE),
      };
    }
    return {
      statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
      message: 'Internal server error',
      error: 'Internal Server Error',
    };
  }
}
