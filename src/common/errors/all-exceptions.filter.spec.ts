import { ConflictException, type ArgumentsHost } from '@nestjs/common';
import type { ClsService } from 'nestjs-cls';
import type { RequestContext } from '@/common/context/request-context';
import { AllExceptionsFilter } from './all-exceptions.filter';
import type { ErrorBody, HttpErrorObserver } from './http-error-observer';

function fakeHost() {
  const sent: { status?: number; body?: unknown } = {};
  const reply = {
    status(code: number) {
      sent.status = code;
      return reply;
    },
    send(body: unknown) {
      sent.body = body;
      return reply;
    },
  };
  const host = {
    getType: () => 'http',
    switchToHttp: () => ({ getResponse: () => reply, getRequest: () => ({ id: 'req-1' }) }),
  } as unknown as ArgumentsHost;
  return { host, sent };
}

const cls = { isActive: () => false } as unknown as ClsService<RequestContext>;

describe(AllExceptionsFilter.name, () => {
  it('tells every observer the error body, and answers even when an observer throws', () => {
    const seen: ErrorBody[] = [];
    const observers: HttpErrorObserver[] = [
      {
        observe: () => {
          throw new Error('observer bug');
        },
      },
      { observe: (_e, body) => void seen.push(body) },
    ];
    const filter = new AllExceptionsFilter(cls, observers);
    const { host, sent } = fakeHost();
    filter.catch(new ConflictException('name taken'), host);
    const expected = {
      statusCode: 409,
      message: 'name taken',
      error: 'Conflict',
      requestId: 'req-1',
    };
    expect(seen).toEqual([expected]);
    expect(sent).toEqual({ status: 409, body: expected });
  });

  it('works without observers', () => {
    const { host, sent } = fakeHost();
    new AllExceptionsFilter(cls).catch(new Error('boom'), host);
    expect(sent.status).toBe(500);
  });
});
