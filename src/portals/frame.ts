import type { Request, Response } from 'express';
import { z } from 'zod';
import { pickLang, type Lang } from '../web/i18n.js';
import { addressKey } from '../platform/ip.js';

/** What Bitrix24 tells a frame page about the viewer and the portal, unverified until the OAuth server confirms it. */
export interface FrameAuth {
  authId: string;
  authExpires?: number;
  refreshId: string;
  memberId: string;
  applicationToken?: string;
  domain: string;
  https: boolean;
  /** The address the frame post came from (req.ip, an IPv6 /64 as one): whose share of the OAuth checks it uses. */
  from: string;
}

// What Bitrix24 posts into the app's frames (install page and main page, reference §4).
const frameQuery = z.object({
  DOMAIN: z.string().regex(/^[a-z0-9.-]+(:\d+)?$/i),
  PROTOCOL: z.enum(['0', '1']).default('1'),
  LANG: z.string().optional(),
});
const frameBody = z.object({
  AUTH_ID: z.string().min(1),
  AUTH_EXPIRES: z.coerce.number().int().positive().optional(),
  REFRESH_ID: z.string().min(1),
  member_id: z.string().min(1).max(64),
  APPLICATION_TOKEN: z.string().min(1).optional(),
});

export function readFrame(req: Request): { ok: true; auth: FrameAuth; lang: Lang } | { ok: false; lang: Lang } {
  const lang = pickLang(req.query.LANG);
  const q = frameQuery.safeParse(req.query);
  const b = frameBody.safeParse(req.body);
  if (!q.success || !b.success) return { ok: false, lang };
  return {
    ok: true,
    lang,
    auth: {
      authId: b.data.AUTH_ID,
      authExpires: b.data.AUTH_EXPIRES,
      refreshId: b.data.REFRESH_ID,
      memberId: b.data.member_id,
      applicationToken: b.data.APPLICATION_TOKEN,
      domain: q.data.DOMAIN.toLowerCase(),
      https: q.data.PROTOCOL === '1',
      from: addressKey(req.ip),
    },
  };
}

/** The portal origin a frame page may be embedded by; from the request's claimed DOMAIN before verification. */
export function claimedOrigin(req: Request): string | undefined {
  const q = frameQuery.safeParse(req.query);
  return q.success ? `${q.data.PROTOCOL === '1' ? 'https' : 'http'}://${q.data.DOMAIN.toLowerCase()}` : undefined;
}

export const originOf = (restEndpoint: string) => new URL(restEndpoint).origin;

/** Where the page that loads Bitrix24's JS SDK (B24_JS_SDK_URL) may take it from, when that is not api.bitrix24.com. */
export function sdkOrigin(sdkUrl: string): string | undefined {
  const origin = new URL(sdkUrl, 'https://api.bitrix24.com').origin;
  return origin === 'https://api.bitrix24.com' || origin === 'http://api.bitrix24.com' ? undefined : origin;
}

/**
 * Pages shown inside Bitrix24 may be framed only by that portal (CSP frame-ancestors). Scripts come from
 * us and from Bitrix24's own api.bitrix24.com (or where B24_JS_SDK_URL says: `scriptOrigin`); no other CDN.
 */
export function frameHeaders(res: Response, portalOrigin: string | undefined, scriptOrigin?: string) {
  res.setHeader(
    'Content-Security-Policy',
    [
      "default-src 'self'",
      `script-src 'self' 'unsafe-inline' https://api.bitrix24.com http://api.bitrix24.com${scriptOrigin ? ` ${scriptOrigin}` : ''}`,
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "form-action 'self'",
      `frame-ancestors ${portalOrigin ?? "'none'"}`,
    ].join('; '),
  );
}

/**
 * HTML answer helper shared by the frame pages. Never stored by a browser or a proxy: the pages carry 30-minute
 * bearer form tokens and, for administrators, full phone numbers.
 */
export const sendPage = (res: Response, status: number, body: { toString(): string }) =>
  res.status(status).setHeader('Cache-Control', 'no-store').type('html').send(body.toString());
