import type { ErrorRequestHandler, Request, Response } from 'express';
import { AppError } from '../platform/errors.js';
import type { B24Error } from '../bitrix/errors.js';
import { pickLang, t, type Lang } from '../web/i18n.js';
import { errorPage } from '../../views/error-page.js';
import type { FormTokens, Holder, Purpose } from './form-token.js';
import type { Portal, PortalRepo } from './portal-repo.js';
import { claimedOrigin, frameHeaders, originOf, readFrame, sendPage, type FrameAuth } from './frame.js';
import { isGateRefusal } from './verify.js';

/*
 * What the pages inside Bitrix24's frame (the install page, the app page, the message log) share: opening the
 * frame post and their forms' tokens, and how a refusal or a Bitrix24 error reads on a page.
 */

/**
 * Bitrix24's frame post, or undefined once a 400 page said it is not one. Until the token is verified the answer
 * may be framed by the portal the request names (the error pages must show inside it).
 */
export function readFramePost(req: Request, res: Response): { auth: FrameAuth; lang: Lang } | undefined {
  frameHeaders(res, claimedOrigin(req));
  const frame = readFrame(req);
  if (frame.ok) return frame;
  sendPage(res, 400, errorPage({ lang: frame.lang, message: t(frame.lang).notFromBitrix }));
  return undefined;
}

/**
 * A frame whose token was not confirmed (AppError from verification or from asking the portal about the viewer).
 * An unreachable server says nothing more; a refusal says why.
 */
export function sendAuthFailure(res: Response, lang: Lang, err: AppError) {
  const tx = t(lang);
  if (err.code === 'not_admin') return sendPage(res, 403, errorPage({ lang, message: tx.notAdmin }));
  if (err.code === 'portal_unavailable') return sendPage(res, 503, errorPage({ lang, message: tx.portalUnavailable }));
  if (isGateRefusal(err)) {
    res.setHeader('Retry-After', String(err.details?.retryAfterS ?? 1));
    return sendPage(res, err.status, errorPage({ lang, message: tx.authBusy }));
  }
  if (err.code === 'portal_address_forbidden') return sendPage(res, 403, errorPage({ lang, message: tx.onPremise.addressForbidden(String(err.details?.host ?? '')) }));
  if (err.code === 'plan_without_rest') return sendPage(res, 403, errorPage({ lang, message: tx.bitrixErrors.PLAN_WITHOUT_REST! }));
  if (err.code === 'portal_cert_untrusted') return sendPage(res, 502, errorPage({ lang, message: tx.onPremise.certUntrusted(String(err.details?.host ?? '')) }));
  const unavailable = err.status === 503;
  return sendPage(res, err.status, errorPage({ lang, message: unavailable ? tx.authUnavailable : tx.authRejected, detail: unavailable ? undefined : err.message }));
}

/**
 * The holder of the form token in a request's body, for one purpose, with their portal; the answer may then be
 * framed by that portal only. Tokens never travel in URLs (they are bearer credentials). Throws AppError: 401 for
 * a token that is not ours or has expired or whose portal is gone, 403 for a genuine token minted for another
 * purpose or for a non-administrator. A genuine token's error page can still be framed by its portal.
 *
 * The forms post to /app/… without Bitrix24's ?LANG, so the page's language is the one signed into the token (an
 * expired one's too) and is kept for the error page of whatever the action refuses afterwards (sendErrorPage).
 */
export async function openFormToken(deps: { formTokens: FormTokens; portals: PortalRepo }, req: Request, res: Response, purpose: Purpose): Promise<{ holder: Holder; portal: Portal }> {
  const opened = deps.formTokens.open((req.body as Record<string, unknown> | undefined)?.state, purpose);
  const lang = pageLang(res, opened.ok ? opened.holder.lang : opened.reason === 'invalid' ? pickLang(req.query.LANG) : opened.lang);
  frameHeaders(res, undefined);
  if (!opened.ok) {
    const tx = t(lang);
    const owner = opened.reason === 'invalid' ? undefined : await deps.portals.findById(opened.pid);
    if (owner) frameHeaders(res, originOf(owner.restEndpoint));
    if (opened.reason === 'not_admin') throw new AppError('forbidden', 403, tx.adminOnly);
    if (opened.reason === 'wrong_purpose') throw new AppError('forbidden', 403, tx.stateForbidden);
    throw new AppError('unauthorized', 401, opened.reason === 'expired' ? tx.stateExpired : tx.stateInvalid);
  }
  const { holder } = opened;
  const portal = await deps.portals.findById(holder.pid);
  if (!portal || portal.memberId !== holder.mid || portal.status === 'uninstalled') throw new AppError('unauthorized', 401, t(lang).stateInvalid);
  frameHeaders(res, originOf(portal.restEndpoint));
  return { holder, portal };
}

/** The language of this answer's pages, once a form token named it. */
function pageLang(res: Response, lang: Lang): Lang {
  res.locals.lang = lang;
  return lang;
}

/** An error a person may read (an exposed AppError) as a frame page, in the language the page was opened in. */
export const sendErrorPage = (req: Request, res: Response, err: AppError) =>
  sendPage(res, err.status, errorPage({ lang: res.locals.lang === 'ru' || res.locals.lang === 'en' ? res.locals.lang : pickLang(req.query.LANG), message: err.message }));

/** Errors of the frame pages' actions are pages or JSON, as the caller asked. */
export const framePageErrors: ErrorRequestHandler = (err, req, res, next) => {
  if (!(err instanceof AppError) || !err.expose || req.accepts(['html', 'json']) === 'json') return next(err);
  sendErrorPage(req, res, err);
};

/** A Bitrix24 error in plain words for an administrator; codes without words of their own are quoted. */
export function explain(err: B24Error, lang: Lang): string {
  const tx = t(lang);
  return tx.bitrixErrors[err.code] ?? tx.onPremise.errors[err.code] ?? tx.bitrixError(err.code, err.description);
}

/**
 * Bitrix24 refused to register a provider after the settings were saved: the page says so and why, with 403 when
 * Bitrix24 denied access and 502 for anything else.
 */
export const registrationFailure = (err: B24Error, lang: Lang) => ({
  status: err.code === 'ACCESS_DENIED' ? 403 : 502,
  alert: `${t(lang).registerFailed}: ${explain(err, lang)}`,
});
