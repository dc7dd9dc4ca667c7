import { QueryFailedError, QueryRunnerAlreadyReleasedError } from 'typeorm';
import { isDatabaseUnavailable } from './database-unavailable';

const pgError = (message: string, code?: string) => Object.assign(new Error(message), { code });

describe(isDatabaseUnavailable.name, () => {
  it('recognises a server that cannot be reached, however it is wrapped', () => {
    const unavailable = [
      pgError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      pgError('Connection terminated unexpectedly'),
      // The runner released itself when its connection died mid-transaction.
      new QueryRunnerAlreadyReleasedError(),
      pgError('terminating connection due to administrator command', '57P01'),
      pgError('the database system is starting up', '57P03'),
      pgError('sorry, too many clients already', '53300'),
      pgError('connection failure', '08006'),
      new QueryFailedError('SELECT 1', [], pgError('Connection terminated unexpectedly')),
      new Error('audit write failed', { cause: pgError('x', '57P02') }),
      new AggregateError([pgError('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')]),
    ];
    for (const error of unavailable) expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it('leaves errors of the request or of the code alone', () => {
    const others = [
      pgError('duplicate key value violates unique constraint', '23505'),
      new QueryFailedError('SELECT x', [], pgError('column "x" does not exist', '42703')),
      new TypeError('Cannot read properties of undefined'),
      'Connection terminated',
      null,
    ];
    for (const error of others) expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
