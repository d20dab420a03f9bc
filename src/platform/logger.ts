import { pino, type DestinationStream, type Logger } from 'pino';

export type Log = Logger;

/** Field names whose values are tokens, keys or secrets. */
const SECRET_FIELDS = new Set(['access_token', 'refresh_token', 'application_token', 'api_key', 'password', 'secret']);
/** A request's headers that carry credentials. */
const SECRET_HEADERS = ['authorization', 'cookie'];
const CENSOR = '[redacted]';

/**
 * Tokens, keys and secrets are censored wherever they appear by mistake: a secret field of the line, a secret field of
 * any object in it (one level down: `err.api_key`, `auth.access_token`), and a request's authorization and cookie
 * headers (`req.headers.…`). What holds none is logged as it is, untouched and uncopied; what holds one is logged as a
 * censored copy, never changed in place. A scan of the keys: pino's own path redaction took ~3 µs a line, most of
 * the cost of a queued message's log line.
 */
export function redact<T extends object>(fields: T): T {
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(fields)) {
    if (SECRET_FIELDS.has(k)) {
      censor((out ??= censoredCopy(fields)), k);
      continue;
    }
    const v = (fields as Record<string, unknown>)[k];
    if (v === null || typeof v !== 'object') continue;
    let inner = censorFields(v as Record<string, unknown>, SECRET_FIELDS);
    if (k === 'req') {
      const headers = (inner as { headers?: unknown }).headers;
      if (headers !== null && typeof headers === 'object') {
        const h = censorFields(headers as Record<string, unknown>, SECRET_HEADERS);
        if (h !== headers) put((inner = inner === v ? censoredCopy(inner) : inner), 'headers', h);
      }
    }
    if (inner !== v) put((out ??= censoredCopy(fields)), k, inner);
  }
  return (out ?? fields) as T;
}

/** `obj` with the given own fields censored: itself when it has none of them. */
function censorFields(obj: Record<string, unknown>, names: Iterable<string>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const n of names) if (Object.hasOwn(obj, n)) censor((out ??= censoredCopy(obj)), n);
  return out ?? obj;
}

const put = (obj: Record<string, unknown>, k: string, value: unknown) =>
  Object.defineProperty(obj, k, { value, enumerable: true, writable: true, configurable: true });
const censor = (obj: Record<string, unknown>, k: string) => put(obj, k, CENSOR);

/**
 * A copy to censor: same prototype and own properties (an Error keeps its message and stack), every property a plain
 * writable one; a plain copy of the enumerable ones when the object cannot be copied so (a proxy, a frozen getter).
 */
function censoredCopy(obj: object): Record<string, unknown> {
  try {
    const descriptors = Object.getOwnPropertyDescriptors(obj);
    for (const d of Object.values(descriptors)) {
      d.configurable = true;
      if ('value' in d) d.writable = true;
    }
    return Object.create(Object.getPrototypeOf(obj), descriptors) as Record<string, unknown>;
  } catch {
    return { ...obj } as Record<string, unknown>;
  }
}

/** What a pipe takes in one piece (POSIX's minimum, Linux's value). */
const PIPE_BUF = 4096;

let dropped = 0;
/** Log lines this process dropped because standard output was not read (stdoutDestination's bound). */
export const droppedLogLines = () => dropped;
let stdout: ReturnType<typeof pino.destination> | undefined;

/**
 * Waits (at most `timeoutMs`) until every line given to standard output is written, the write under way included:
 * a process that exits only writes out synchronously what no write has taken yet, so a write blocked on a full
 * pipe when it exits is lost. Graceful exits call this first; a crash can lose that one write (≤ 4,096 bytes).
 * sonic-boom's own flush(cb) answers at once when its minLength is 0 (ours), so this watches the destination's
 * state (`_writing`, `_len`, sonic-boom 4.2) and its 'write' and 'drain' events instead.
 */
export function flushStdout(timeoutMs = 2_000): Promise<void> {
  const out = stdout as (ReturnType<typeof pino.destination> & { _writing?: unknown; _len?: unknown }) | undefined;
  if (!out) return Promise.resolve();
  const busy = () => out._writing === true || (typeof out._len === 'number' && out._len > 0);
  if (!busy()) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (busy()) return;
      done();
    };
    const done = () => {
      clearTimeout(giveUp);
      out.off('write', check).off('drain', check);
      resolve();
    };
    const giveUp = setTimeout(done, timeoutMs);
    out.on('write', check).on('drain', check);
  });
}

/**
 * Standard output for a service process: written asynchronously (by libuv's threads, lines that arrive while a
 * write is under way go out together in the next one) rather than one blocking write(2) a line on the event loop,
 * which was ~3 % of the web process's time under intake load. What is buffered is written out synchronously when the
 * process exits (pino registers that); a consumer that stops reading costs at most 16 MB of buffered lines, then
 * lines are dropped (and counted: `log_lines_dropped_total`) rather than the service stalled. Each write holds whole
 * lines and at most PIPE_BUF (4,096) bytes (sonic-boom measures maxWrite in bytes, Buffer.byteLength): `npm start`'s
 * processes share one standard output, and a pipe takes such a write whole, so their lines never interleave
 * mid-line. (It was 1,360, counted as if in UTF-16 units: three times the writes, 5 % of the web process's CPU under
 * intake load.)
 */
export function stdoutDestination(): DestinationStream {
  const out = pino.destination({ dest: 1, sync: false, maxLength: 16 * 1024 * 1024, maxWrite: PIPE_BUF });
  out.on('drop', (data: string) => void (dropped += Math.max(1, data.split('\n').length - 1)));
  stdout = out;
  return out;
}

export function createLogger(level: string, destination?: DestinationStream): Log {
  const options = {
    level,
    base: undefined,
    // Each line's fields go through redact() before they are serialized, and an error again after (its serializer
    // copies inherited fields too).
    formatters: { log: redact },
    serializers: { err: (e: Error) => redactErr(e) },
  };
  const log = destination ? pino(options, destination) : pino(options);
  // And so do bindings: pino gives child loggers no bindings formatter of their own, and a child's own `formatters.log`
  // or serializers would replace ours. Children are made from their parent, so every descendant finds these first.
  const { child, setBindings } = log;
  log.child = function (this: Log, bindings: Record<string, unknown>, opts?: ChildOptions) {
    return child.call(this, redact(bindings), opts && guardedChildOptions(opts));
  } as Log['child'];
  log.setBindings = function (this: Log, bindings: Record<string, unknown>) {
    setBindings.call(this, redact(bindings));
  };
  return log;
}

type ChildOptions = NonNullable<Parameters<Log['child']>[1]>;

const redactErr = (e: Error) => censorFields(pino.stdSerializers.err(e) as unknown as Record<string, unknown>, SECRET_FIELDS);

/** A child's own log formatter and serializers, with what they return redacted. */
function guardedChildOptions(opts: ChildOptions): ChildOptions {
  const out = { ...opts };
  const log = opts.formatters?.log;
  if (log) out.formatters = { ...opts.formatters, log: (o: object) => redact(log(o)) };
  if (opts.serializers) {
    out.serializers = Object.fromEntries(Object.entries(opts.serializers).map(([k, f]) => [k, (v: unknown) => {
      const r: unknown = f(v);
      return r !== null && typeof r === 'object' ? censorFields(r as Record<string, unknown>, SECRET_FIELDS) : r;
    }]));
  }
  return out;
}

/** Phone numbers appear in logs only as their last four digits. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return '';
  const digits = phone.replace(/\D/g, '');
  return digits.length <= 4 ? '****' : `${'*'.repeat(Math.min(digits.length - 4, 8))}${digits.slice(-4)}`;
}
