import { Agent, request, type Dispatcher } from 'undici';
import { GATEWAY_LOOKUP_TIMEOUT } from './address-guard.js';

export interface HttpOptions {
  dispatcher: Dispatcher;
  /** Deadline for the whole exchange: connect, headers and body together. */
  timeoutMs: number;
  /** Largest answer body read; beyond it the body is dropped and the request fails. */
  maxBytes?: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024;

/** The deadline passed after the request may have left (connected, written or answering): the outcome is unknown. */
export const HTTP_DEADLINE = 'HTTP_DEADLINE';
/** The deadline passed before a connection was made: the request never left. */
export const HTTP_CONNECT_DEADLINE = 'HTTP_CONNECT_DEADLINE';
/** The answer was larger than `maxBytes`; the peer received the request and answered. */
export const HTTP_ANSWER_TOO_LARGE = 'HTTP_ANSWER_TOO_LARGE';

class HttpError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

/** One shared agent with explicit connect timeout; per-request deadlines are passed on each call. */
export function createDispatcher(connectTimeoutMs = 5_000): Dispatcher {
  return new Agent({ connect: { timeout: connectTimeoutMs }, keepAliveTimeout: 10_000 });
}

/**
 * Notes the moment undici hands the request to a connected socket. Before it the request surely never left;
 * after it, it may have been written, which is what tells a safe retry from an unknown outcome.
 */
function onRequestStart(noteStarted: () => void): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) =>
    dispatch(opts, {
      onRequestStart: (controller, context) => {
        noteStarted();
        handler.onRequestStart?.(controller, context);
      },
      onRequestUpgrade: (...a) => handler.onRequestUpgrade?.(...a),
      onResponseStart: (...a) => handler.onResponseStart?.(...a),
      onResponseData: (...a) => handler.onResponseData?.(...a),
      onResponseEnd: (...a) => handler.onResponseEnd?.(...a),
      onResponseError: (...a) => handler.onResponseError?.(...a),
    });
}

/**
 * One HTTP exchange under an overall deadline and a size cap. undici's headersTimeout/bodyTimeout measure the
 * gaps between bytes, so a peer that trickles one byte at a time would hold the caller forever without the timer.
 */
export async function httpRequest(
  url: string,
  init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
  opts: HttpOptions,
): Promise<HttpResponse> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  const abort = new AbortController();
  let started = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = started
        ? new HttpError(HTTP_DEADLINE, `no complete answer within ${opts.timeoutMs} ms`)
        : new HttpError(HTTP_CONNECT_DEADLINE, `no connection within ${opts.timeoutMs} ms`);
      abort.abort(err); // destroys the socket: the peer sees the connection close
      reject(err);
    }, opts.timeoutMs);
  });

  async function exchange(): Promise<HttpResponse> {
    const res = await request(url, {
      method: init.method,
      headers: init.headers,
      body: init.body,
      dispatcher: opts.dispatcher.compose(onRequestStart(() => (started = true))),
      signal: abort.signal,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    const text = await readCapped(res.body, Number(res.headers['content-length'] ?? 0), maxBytes);
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, headers: res.headers, text, json };
  }

  try {
    return await Promise.race([exchange(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], declared: number, maxBytes: number): Promise<string> {
  const tooLarge = () => {
    body.destroy(); // stop reading: the connection is closed rather than drained
    return new HttpError(HTTP_ANSWER_TOO_LARGE, `answer larger than ${maxBytes} bytes`);
  };
  if (declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Node's socket and DNS error codes (the `code` of errors from net, tls and dns). Only these, undici's own
 * `UND_ERR_*` and our deadline and size codes name a peer that could not be reached or did not answer in full;
 * other `E…` codes (EACCES, EMFILE, ERR_INVALID_ARG_TYPE…) are local failures, not the network's.
 */
const SOCKET_AND_DNS_CODES = new Set([
  // sockets (net, tls)
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH',
  'ENETDOWN', 'ENETRESET', 'EADDRNOTAVAIL', 'EPROTO',
  // name lookups (dns, getaddrinfo)
  'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ENODATA', 'ESERVFAIL', 'EREFUSED', 'ETIMEOUT', 'EFORMERR', 'EBADRESP',
]);
// GATEWAY_LOOKUP_TIMEOUT: a guarded name lookup (address-guard.ts) found no address in time.
const OUR_CODES = new Set([HTTP_DEADLINE, HTTP_CONNECT_DEADLINE, HTTP_ANSWER_TOO_LARGE, GATEWAY_LOOKUP_TIMEOUT]);

/** The code of an error that means the peer could not be reached or did not answer in full; undefined for others. */
export function networkErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: string } | null)?.code;
  if (typeof code !== 'string') return undefined;
  return code.startsWith('UND_ERR_') || SOCKET_AND_DNS_CODES.has(code) || OUR_CODES.has(code) ? code : undefined;
}

/**
 * Node's TLS verification codes: the peer answered, but with a certificate this process does not trust (a portal
 * behind its own CA, a self-signed or expired certificate, a name that does not match). Retrying will not help;
 * the operator adds the CA (NODE_EXTRA_CA_CERTS) or the portal fixes its certificate.
 */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The TLS code of an error that means the peer's certificate was not trusted (also when undici wraps it); else undefined. */
export function certificateErrorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CERTIFICATE_CODES.has(code)) return code;
  }
  return undefined;
}
