import { AppError } from '../platform/errors.js';
import { B24Error, CERT_UNTRUSTED, PLAN_WITHOUT_REST } from '../bitrix/errors.js';
import { PORTAL_ADDRESS_FORBIDDEN, type RestClient, type Target } from '../bitrix/rest-client.js';

/** Who a Bitrix24 access token belongs to: the frame's viewer, or the author of a lifecycle event. */
export interface Viewer {
  userId: number;
  admin: boolean;
}

/**
 * Asks the portal about the token's own user with `profile`: its ADMIN is core's CRestUtil::isAdmin(), the same
 * check `user.admin` answers, and it names the user in the same call. An inactive user gets an empty result.
 * Throws AppError 503 when the portal cannot be reached, 502 when its certificate is not trusted, 403 when its address
 * is one this service does not call (address-guard.ts), 403 when its plan has no REST, 401 when it refuses the token.
 */
export async function identifyViewer(rest: RestClient, target: Target, accessToken: string): Promise<Viewer> {
  let profile: { ID?: unknown; ADMIN?: unknown } | unknown[];
  try {
    profile = await rest.callAs<{ ID?: unknown; ADMIN?: unknown } | unknown[]>(target, accessToken, 'profile');
  } catch (err) {
    if (!(err instanceof B24Error)) throw err;
    if (err.code === CERT_UNTRUSTED) {
      throw new AppError('portal_cert_untrusted', 502, `the portal's certificate is not trusted (${err.description})`, true, { host: new URL(target.endpoint).host });
    }
    if (err.code === PORTAL_ADDRESS_FORBIDDEN) {
      throw new AppError('portal_address_forbidden', 403, err.description, true, { host: new URL(target.endpoint).host });
    }
    if (err.kind === 'retryable') throw new AppError('portal_unavailable', 503, 'the Bitrix24 portal could not be reached');
    if (err.code === PLAN_WITHOUT_REST) throw new AppError('plan_without_rest', 403, err.description, true);
    throw new AppError('auth_rejected', 401, `the portal refused the token (${err.code})`);
  }
  if (Array.isArray(profile) || !profile) return { userId: 0, admin: false };
  const userId = Number(profile.ID);
  return { userId: Number.isInteger(userId) && userId > 0 ? userId : 0, admin: profile.ADMIN === true && userId > 0 };
}
