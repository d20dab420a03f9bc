import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import type { TokenRefresher } from '../bitrix/token-refresher.js';
import type { PortalRepo } from './portal-repo.js';

const DAY = 24 * 60 * 60 * 1000;

/**
 * Refresh tokens die when unused (28 days is the safe bound, reference §5). Once a day, portals that
 * made no REST call for 20 days get their pair refreshed, which also starts a new 28-day window.
 */
export function createTokenKeeper(deps: { portals: PortalRepo; refresher: TokenRefresher; clock: Clock; log: Log; idleDays?: number }) {
  const idleMs = (deps.idleDays ?? 20) * DAY;

  async function runOnce(): Promise<{ refreshed: number; failed: number }> {
    const now = deps.clock();
    const idle = await deps.portals.idleSince(now - idleMs);
    let refreshed = 0;
    let failed = 0;
    for (const p of idle) {
      try {
        // The pair seen now: when another process's keeper rotated it meanwhile, this one is done.
        const seen = await deps.portals.tokens(p.id);
        await deps.refresher.refresh(p.id, seen?.accessToken);
        await deps.portals.touchRestCall(p.id, deps.clock());
        refreshed++;
      } catch {
        failed++; // the refresher logs and, for terminal answers, marks the portal inactive
      }
    }
    if (idle.length) deps.log.info({ refreshed, failed }, 'token_keeper.ran');
    return { refreshed, failed };
  }

  return { runOnce };
}
