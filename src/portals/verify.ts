import { AppError } from '../platform/errors.js';
import { B24Error } from '../bitrix/errors.js';
import type { AppInfo, OAuthClient } from '../bitrix/oauth.js';
import { createFairGate, type FairGate } from '../platform/fair-gate.js';

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

/**
 * The OAuth server's checks that requests ask for (a frame's token, an event's tokens), through one fair gate per
 * process keyed by the requester's address: anyone can post a token, and each one costs a request to the OAuth
 * server that every portal's installs, pages and token refreshes depend on. One address flooding forged tokens gets
 * 429s once it holds its share; everyone else's checks go on in turn.
 */
export function createTokenChecks(deps: { oauth: OAuthClient; gate?: FairGate }) {
  const gate = deps.gate ?? createFairGate(TOKEN_CHECK_LIMITS);
  return {
    verify: (from: string, p: Parameters<typeof verifyAccessToken>[1]) => gate.run(from, () => verifyAccessToken(deps.oauth, p)),
    /**
     * Work that asks the OAuth server more than once (a refresh, then the check of the token it returned), in one
     * turn of the gate: a refusal can only come before the work starts, never between its questions.
     */
    inTurn: <T>(from: string, work: (ask: { refresh: OAuthClient['refresh']; verify: (p: Parameters<typeof verifyAccessToken>[1]) => Promise<AppInfo> }) => Promise<T>) =>
      gate.run(from, () => work({ refresh: deps.oauth.refresh, verify: (p) => verifyAccessToken(deps.oauth, p) })),
    gate,
  };
}

/** 16 checks in flight per process; one address holds at most 32 running or waiting; 512 wait at most, 15 s each. */
export const TOKEN_CHECK_LIMITS = { slots: 16, perKey: 32, waiting: 512, maxWaitMs: 15_000 };

export type TokenChecks = ReturnType<typeof createTokenChecks>;

/** The gate's own refusals (429 one address over its share, 503 too many waiting): nothing was asked, try again. */
export const isGateRefusal = (err: unknown) => err instanceof AppError && (err.code === 'too_many_checks' || err.code === 'checks_busy');
