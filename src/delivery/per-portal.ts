import type { Log } from '../platform/logger.js';

/**
 * `work` for each portal in turn, summing what it returns: one portal's failure (settings that cannot be read, a
 * write that failed) is logged as `<what>.portal_error` and keeps none of the others from their turn.
 */
export async function forEachPortal(portals: number[], log: Log, what: string, work: (portalId: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (const portalId of portals) {
    try {
      total += await work(portalId);
    } catch (err) {
      log.error({ portalId, err: String(err) }, `${what}.portal_error`);
    }
  }
  return total;
}
