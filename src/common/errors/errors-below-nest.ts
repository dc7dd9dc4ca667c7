import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { correlationIdOf } from '@/common/context/request-context';
import type { ErrorBody } from './all-exceptions.filter';

/**
 * Errors raised before a request reaches Nest (its exception filter never sees them) answered
 * in the service's one error shape, `{ statusCode, message, error, requestId }`, with the
 * `X-Request-ID` header: the router's (a malformed URL, an over-long path parameter) and the
 * HTTP parser's (bad bytes, headers too large, a request not received in time).
 */

export function errorBody(statusCode: number, message: string, requestId: string): ErrorBody {
  return { statusCode, message, error: STATUS_CODES[statusCode] ?? 'Error', requestId };
}

/** Fastify's `frameworkErrors`: the router rejected the URL before any hook ran. */
export function answerFrameworkError(
  maxParamLength: number,
): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  return (error, request, reply) => {
    const status = error.statusCode ?? 400;
    const message =
      error.code === 'FST_ERR_BAD_URL'
        ? 'The URL is malformed (invalid percent-encoding)'
        : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? `A path parameter is longer than ${maxParamLength} characters`
          : (STATUS_CODES[status] ?? 'Bad Request');
    void reply
      .code(status)
      .header('X-Request-ID', request.id)
      .header('X-Correlation-ID', correlationIdOf(request.headers, request.id))
      .send(errorBody(status, message, request.id));
  };
}

/** What the HTTP parser's error codes mean to a caller; anything else is a 400. */
const CLIENT_ERRORS: Record<string, [status: number, message: string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request was not received in time'],
  HPE_HEADER_OVERFLOW: [431, 'The request headers are too large'],
  HPE_INVALID_METHOD: [400, 'The request method is not valid'],
};
const NOT_HTTP: [number, string] = [400, 'The request is not valid HTTP/1.1'];

/**
 * Fastify's `clientErrorHandler` (node's 'clientError'): there is no request object, only the
 * socket, so the response is written raw and the connection closed. A request whose headers
 * were read keeps its id (a slow body's 408 names the request the caller sent); otherwise the
 * id is generated.
 */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Never write into a response that has begun (node's own rule in its default handler).
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const [status, message] = CLIENT_ERRORS[err.code ?? ''] ?? NOT_HTTP;
    const requestId = (inFlight?.req as { id?: string } | undefined)?.id ?? randomUUID();
    const body = JSON.stringify(errorBody(status, message, requestId));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-ID: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy(err);
}
