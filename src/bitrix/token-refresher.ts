import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { B24Error } from './errors.js';
import type { OAuthClient } from './oauth.js';
import type { TokenStore } from './token-store.js';

export type RefreshOutcome = 'refreshed' | 'already_rotated' | 'failed' | 'terminal';

/**
 * One refresh per portal at a time. Refresh tokens rotate on every use and the old one dies at
 * once, so concurrent refreshes would break the chain: within a process callers share one
 * in-flight promise; across processes a lease row in `portals` serialises them, and a process that
 * finds the pair already rotated simply uses the new one.
 */
export function createTokenRefresher(deps: {
  portals: TokenStore;
  oauth: OAuthClient;
  clock: Clock;
  log: Log;
  onOutcome?: (outcome: RefreshOutcome) => void;
  leaseMs?: number;
  waitStepMs?: number;
}) {
  const inflight = new Map<number, Promise<void>>();
  const leaseMs = deps.leaseMs ?? 30_000;
  const waitStepMs = deps.waitStepMs ?? 100;
  const count = (o: RefreshOutcome) => deps.onOutcome?.(o);

  /** Makes sure the stored access token is no longer `staleAccessToken` (or `force`s a rotation). */
  function refresh(portalId: number, staleAccessToken?: string): Promise<void> {
    const running = inflight.get(portalId);
    if (running) return running;
    const p = doRefresh(portalId, staleAccessToken).finally(() => inflight.delete(portalId));
    inflight.set(portalId, p);
    return p;
  }

  async function doRefresh(portalId: number, stale: string | undefined): Promise<void> {
    const deadline = deps.clock() + leaseMs;
    for (;;) {
      // Another process may have rotated the pair already: a caller holding a dead access token is done.
      if (stale !== undefined && (await rotatedSince(portalId, stale))) return;
      const takenAt = deps.clock();
      if (await deps.portals.takeRefreshLease(portalId, takenAt, leaseMs)) {
        // The lease's end as written: every write of this refresh holds only while it is still the portal's, so one
        // that an uninstall and a reinstall (or another process, the lease run out) came between changes nothing.
        const lease = takenAt + leaseMs;
        // The pair is read under the lease, never before it: a pair read earlier may have been rotated meanwhile by
        // the lease's previous holder, and its refresh token, dead, would end the portal with invalid_grant.
        let current: Awaited<ReturnType<TokenStore['tokens']>>;
        try {
          current = await deps.portals.tokens(portalId);
        } catch (err) {
          await deps.portals.releaseRefreshLease(portalId, lease);
          throw err;
        }
        if (current && (stale === undefined || current.accessToken === stale)) return rotate(portalId, current.refreshToken, lease);
        await deps.portals.releaseRefreshLease(portalId, lease);
        if (!current) throw noTokens();
        return void count('already_rotated');
      }
      if (deps.clock() > deadline) throw new B24Error('REFRESH_BUSY', 'another process is refreshing the tokens', 'retryable');
      await new Promise((r) => setTimeout(r, waitStepMs));
    }
  }

  async function rotatedSince(portalId: number, stale: string): Promise<boolean> {
    const current = await deps.portals.tokens(portalId);
    if (!current) throw noTokens();
    if (current.accessToken === stale) return false;
    count('already_rotated');
    return true;
  }

  async function rotate(portalId: number, refreshToken: string, lease: number): Promise<void> {
    try {
      const t = await deps.oauth.refresh(refreshToken);
      if (!(await deps.portals.saveTokens(portalId, t, deps.clock(), t.clientEndpoint, lease))) throw superseded();
      deps.log.info({ portalId }, 'b24.token.refreshed');
      count('refreshed');
    } catch (err) {
      if (err instanceof B24Error && err.kind === 'terminal') {
        if (await deps.portals.markInactive(portalId, `${err.code}: ${err.description}`, deps.clock(), { lease })) deps.log.warn({ portalId, error: err.code }, 'b24.portal.inactive');
        await deps.portals.releaseRefreshLease(portalId, lease);
        count('terminal');
      } else {
        await deps.portals.releaseRefreshLease(portalId, lease);
        deps.log.warn({ portalId, error: err instanceof B24Error ? err.code : String(err) }, 'b24.token.refresh_failed');
        count('failed');
      }
      throw err;
    }
  }

  return { refresh };
}

export type TokenRefresher = ReturnType<typeof createTokenRefresher>;

const noTokens = () => new B24Error('NO_TOKENS', 'the portal has no stored tokens; reinstall the app', 'terminal');
/** The refresh lease was no longer ours when the new pair came: the portal was uninstalled (or installed again). */
const superseded = () => new B24Error('REFRESH_SUPERSEDED', 'the portal was uninstalled or installed again while its tokens were refreshed', 'retryable');
