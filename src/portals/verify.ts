import { AppError } from '../platform/errors.js';
import { B24Error } from '../bitrix/errors.js';
import type { AppInfo, OAuthClient } from '../bitrix/oauth.js';

/**
 * The OAuth server refused the token. `b24Code` is its error (`expired_token`: events arrive late, and a late one
 * is proven by a refresh instead); the answer to the caller names it too, as `b24Error`.
 */
export class TokenRejected extends AppError {
  constructor(readonly b24Code: string | undefined) {
    super('auth_rejected', 401, `the authorization server refused the token (${b24Code ?? 'error'})`, true, { b24Error: b24Code });
    this.name = 'TokenRejected';
  }
}

/**
 * Proves that an access token was issued to our app for the given portal, by asking the OAuth
 * server (never the portal named in the request). Throws TokenRejected for a refused token, AppError 401
 * on a mismatch, 503 when the OAuth server cannot be reached.
 */
export async function verifyAccessToken(
  oauth: OAuthClient,
  p: { accessToken: string; memberId: string; domain?: string; requireInstalled: boolean },
): Promise<AppInfo> {
  let info: AppInfo;
  try {
    info = await oauth.appInfo(p.accessToken);
  } catch (err) {
    if (err instanceof B24Error && err.kind === 'retryable') {
      throw new AppError('oauth_unavailable', 503, 'the Bitrix24 authorization server could not be reached');
    }
    throw new TokenRejected(err instanceof B24Error ? err.code : undefined);
  }
  if (info.clientId !== oauth.clientId) throw new AppError('auth_rejected', 401, 'the token was issued to another application');
  if (info.memberId !== p.memberId) throw new AppError('auth_rejected', 401, 'the token belongs to another Bitrix24 portal');
  if (p.domain !== undefined && info.domain?.toLowerCase() !== p.domain.toLowerCase()) {
    throw new AppError('auth_rejected', 401, 'the token belongs to another Bitrix24 domain');
  }
  if (p.requireInstalled && !info.installed) throw new AppError('auth_rejected', 401, 'the app is not installed in this portal');
  return info;
}
