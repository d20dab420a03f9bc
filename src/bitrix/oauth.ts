import { z } from 'zod';
import type { Dispatcher } from 'undici';
import { httpRequest, networkErrorCode } from '../platform/http.js';
import { B24Error, errorFromBody } from './errors.js';
import type { TokenPair } from './token-store.js';

const appInfoSchema = z.object({
  result: z.object({
    client_id: z.string().optional(),
    install: z
      .object({
        installed: z.boolean().optional(),
        domain: z.string().optional(),
        member_id: z.string().optional(),
      })
      .optional(),
  }),
});

const tokenSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: z.coerce.number().optional(),
  expires: z.coerce.number().optional(),
  client_endpoint: z.string().optional(),
  member_id: z.string().optional(),
  domain: z.string().optional(),
});

export interface AppInfo {
  clientId: string | undefined;
  installed: boolean;
  domain: string | undefined;
  memberId: string | undefined;
}

export interface RefreshedTokens extends TokenPair {
  clientEndpoint?: string;
  memberId?: string;
  domain?: string;
}

/**
 * The OAuth server (B24_OAUTH_URL): a fixed, trusted host. Tokens are verified here and never
 * at the portal named in a request, which anyone can forge.
 */
export function createOAuthClient(opts: {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  dispatcher: Dispatcher;
  timeoutMs: number;
  clock: () => number;
}) {
  const http = { dispatcher: opts.dispatcher, timeoutMs: opts.timeoutMs };

  async function send(url: string, init: Parameters<typeof httpRequest>[1]) {
    try {
      return await httpRequest(url, init, http);
    } catch (err) {
      throw new B24Error('NETWORK', `OAuth server unreachable (${networkErrorCode(err) ?? 'error'})`, 'retryable');
    }
  }

  /** app.info for an access token; throws B24Error (permanent for a bad token, retryable when unreachable). */
  async function appInfo(accessToken: string): Promise<AppInfo> {
    const res = await send(`${opts.baseUrl}/rest/app.info?auth=${encodeURIComponent(accessToken)}`, { method: 'GET' });
    if (res.status !== 200) throw errorFromBody(res.json, res.status);
    const parsed = appInfoSchema.safeParse(res.json);
    if (!parsed.success) throw new B24Error('UNEXPECTED_RESPONSE', 'app.info answered without a result', 'retryable', res.status);
    const r = parsed.data.result;
    return { clientId: r.client_id, installed: r.install?.installed === true, domain: r.install?.domain, memberId: r.install?.member_id };
  }

  /** Exchanges a refresh token for a new pair. The old pair dies the moment this succeeds. */
  async function refresh(refreshToken: string): Promise<RefreshedTokens> {
    // A form body keeps client_secret and the refresh token out of URLs and access logs.
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: opts.clientId,
      client_secret: opts.clientSecret,
      refresh_token: refreshToken,
    }).toString();
    const res = await send(`${opts.baseUrl}/oauth/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    const parsed = tokenSchema.safeParse(res.json);
    if (res.status !== 200 || !parsed.success) throw errorFromBody(res.json, res.status === 200 ? 502 : res.status);
    const t = parsed.data;
    const expiresAt = t.expires ? t.expires * 1000 : opts.clock() + (t.expires_in ?? 3600) * 1000;
    return {
      accessToken: t.access_token,
      refreshToken: t.refresh_token,
      expiresAt,
      clientEndpoint: t.client_endpoint,
      memberId: t.member_id,
      domain: t.domain,
    };
  }

  return { appInfo, refresh, clientId: opts.clientId };
}

export type OAuthClient = ReturnType<typeof createOAuthClient>;
