import { Agent, request, type Dispatcher } from 'undici';

export interface HttpOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** One shared agent with explicit connect timeout; per-request timeouts are passed on each call. */
export function createDispatcher(connectTimeoutMs = 5_000): Dispatcher {
  return new Agent({ connect: { timeout: connectTimeoutMs }, keepAliveTimeout: 10_000 });
}

export async function httpRequest(
  url: string,
  init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
  opts: HttpOptions,
): Promise<HttpResponse> {
  const res = await request(url, {
    method: init.method,
    headers: init.headers,
    body: init.body,
    dispatcher: opts.dispatcher,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });
  const text = await res.body.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

/** undici / socket error codes that mean the peer could not be reached or did not answer. */
export function networkErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: string } | null)?.code;
  return typeof code === 'string' && (code.startsWith('UND_ERR_') || code.startsWith('E')) ? code : undefined;
}
