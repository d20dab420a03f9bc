import type { Request, Response } from 'express';
import { AppError } from '../platform/errors.js';
import { pickLang, t } from '../../views/i18n.js';
import type { FormTokens, Holder, Purpose } from './form-token.js';
import type { Portal, PortalRepo } from './portal-repo.js';
import { frameHeaders, originOf } from './frame.js';

/**
 * The holder of the form token in a request's body, for one purpose, with their portal; the answer may then be
 * framed by that portal only. Tokens never travel in URLs (they are bearer credentials). Throws AppError: 401 for
 * a token that is not ours or has expired or whose portal is gone, 403 for a genuine token minted for another
 * purpose or for a non-administrator. A genuine token's error page can still be framed by its portal.
 */
export async function openFormToken(deps: { formTokens: FormTokens; portals: PortalRepo }, req: Request, res: Response, purpose: Purpose): Promise<{ holder: Holder; portal: Portal }> {
  const lang = pickLang(req.query.LANG);
  const opened = deps.formTokens.open((req.body as Record<string, unknown> | undefined)?.state, purpose);
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
  if (!portal || portal.memberId !== holder.mid || portal.status === 'uninstalled') throw new AppError('unauthorized', 401, t(holder.lang).stateInvalid);
  frameHeaders(res, originOf(portal.restEndpoint));
  return { holder, portal };
}
