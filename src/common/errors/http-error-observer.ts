import type { ArgumentsHost } from '@nestjs/common';

/** The body of every error response (see `AllExceptionsFilter`). */
export interface ErrorBody {
  statusCode: number;
  message: string | string[];
  error: string;
  requestId?: string;
}

/**
 * Told about every error the exception filter turns into an HTTP response, after the
 * request's transaction (if any) has rolled back and before the response is sent. For route
 * errors `host` is Nest's ExecutionContextHost (`getHandler()`/`getClass()` name the route);
 * for errors outside a route (unknown path, body parser) they return undefined.
 *
 * An observer must not throw and must not delay the response: it records what it needs and
 * does any I/O in the background. The filter guards against one that throws anyway.
 */
export interface HttpErrorObserver {
  observe(exception: unknown, body: ErrorBody, host: ArgumentsHost): void;
}

/** The injection token of the list of observers (optional: none by default). */
export const HTTP_ERROR_OBSERVERS = Symbol('HTTP_ERROR_OBSERVERS');
