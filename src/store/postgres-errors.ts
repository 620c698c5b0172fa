// Which PostgreSQL failures mean "the database is unavailable", and the errors the store rejects with. Only
// those become store_unavailable (the HTTP layer answers 503, the engine applies the policy's fail mode);
// anything else (a bug, a constraint violation) passes through unchanged, so it is not mistaken for an outage.
import { ErrorCode, MfaGateError } from '../errors.js';

/** The database could not be reached or the connection died; the driver's error is the `cause`. */
export class StoreUnavailableError extends MfaGateError {
  constructor(where: string, cause: unknown) {
    super(ErrorCode.STORE_UNAVAILABLE, `the PostgreSQL store ${where} is unavailable: ${describe(cause)}`);
    this.name = 'StoreUnavailableError';
    // Non-enumerable, as `new Error(message, { cause })` makes it: a serialiser that walks own enumerable
    // properties does not dump pg's error object by accident.
    Object.defineProperty(this, 'cause', { value: cause, writable: true, configurable: true, enumerable: false });
  }
}

/** Every method of a closed store rejects with this (code store_unavailable, like the SQLite StoreClosedError). */
export class PostgresStoreClosedError extends MfaGateError {
  constructor(where: string) {
    super(ErrorCode.STORE_UNAVAILABLE, `the PostgreSQL store ${where} is closed`);
    this.name = 'StoreClosedError';
  }
}

// Socket-level failures (node's net and dns): nobody answered, or the connection broke.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
]);

// SQLSTATEs (https://www.postgresql.org/docs/15/errcodes-appendix.html) besides class 08 (connection
// exception) that mean the server cannot serve us now: shutdowns (57P01 admin_shutdown is also what
// pg_terminate_backend sends), recovery or startup (57P03), connection slots exhausted (53300), and a
// statement cancelled by statement_timeout (57014: the database did not answer in time, the caller must not
// wait longer; the engine's fail mode is the right answer, as for a timeout anywhere else).
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57P05', '53300', '57014']);

// pg and pg-pool report these as plain Errors without a code: a connection that died ("Connection
// terminated unexpectedly", "... due to connection timeout"), a client that broke while queued, and the
// pool's wait for a free connection running past connectionTimeoutMillis.
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/,
  /not queryable/,
  /^timeout exceeded when trying to connect/,
  /^Query read timeout/,
];

/** Whether `error` says the database is unreachable or the connection died (see the lists above). */
export function isUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code)) return true;
    }
    if (UNAVAILABLE_MESSAGES.some((re) => re.test(e.message))) return true;
    // Node reports a refused connection to a host with several addresses as an AggregateError of them.
    if (e instanceof AggregateError && e.errors.some((inner) => isUnavailable(inner))) return true;
  }
  return false;
}

/** pg-pool's answer once end() was called: the store was closed under an operation already in flight. */
export function isPoolEnded(error: unknown): boolean {
  return error instanceof Error && error.message === 'Cannot use a pool after calling end on the pool';
}

/**
 * The error a pool or client event carries, without the pg client pg-pool attaches to it (`err.client`
 * holds the connection parameters; a logger serialising the error would walk into them).
 */
export function detachClient(error: Error): Error {
  if ('client' in error) delete (error as { client?: unknown }).client;
  return error;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  // An AggregateError's own message is empty; its parts carry the addresses tried.
  const message =
    error.message || (error instanceof AggregateError ? error.errors.map((e) => String((e as Error)?.message)).join('; ') : '');
  return typeof code === 'string' ? `${message} (${code})` : message;
}
