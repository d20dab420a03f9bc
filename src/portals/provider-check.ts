import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import type { Leases } from '../platform/leases.js';
import type { RestClient } from '../bitrix/rest-client.js';
import type { PortalRepo } from './portal-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import { LIFECYCLE_EVENTS, type ProviderRegistry } from './providers.js';
import type { ProviderCheckRepo, ProviderCheckResult } from './provider-check-repo.js';
import type { IdentityRepo } from './identity-repo.js';

/** A check of one portal holds its lease this long at most: a few paced calls, each with its retries. */
const LEASE_MS = 10 * 60_000;

/**
 * The periodic provider check (PROVIDER_CHECK_CRON). Bitrix24 deletes an app's providers on every app update
 * (core restservice.php onRestAppUpdate), and registering them again depends on ONAPPUPDATE reaching us, which the
 * event queue never resends; an administrator can also delete a provider by hand. So each active portal is asked
 * what it has (`messageservice.sender.list`, `event.get`) and gets back, with the stored names, every provider its
 * stored senders say it should have, and the lifecycle events the install binds. Only stored senders count: a
 * sender name removed on the settings page is gone from the store and never comes back.
 *
 * Portals are checked one after another through the REST client, which paces every call by the portal's rate limit.
 * Every worker process runs the job: a lease per portal keeps two from checking it at once, and a portal checked
 * since this run began (by another process) is skipped.
 */
export function createProviderCheck(deps: {
  portals: Pick<PortalRepo, 'all' | 'findById'>;
  settings: Pick<SettingsRepo, 'senders'>;
  providers: Pick<ProviderRegistry, 'registerOne' | 'bindEvents' | 'handlerUrl' | 'eventsUrl'>;
  rest: Pick<RestClient, 'call'>;
  checks: ProviderCheckRepo;
  leases: Leases;
  /** sender.* need an administrator: a stored pair refused for it gives way to the latest administrator's. */
  identities?: Pick<IdentityRepo, 'promoteAdmin'>;
  clock: Clock;
  log: Log;
  /** Called with what was registered or bound again (metrics). */
  onRepair?: (what: 'provider' | 'event', n: number) => void;
}) {
  /** Registers the missing providers and binds the missing events of one portal; throws on the first failed call. */
  async function repair(portalId: number, progress: { providers: number; events: number; codes?: string[] }) {
    const listed = await deps.rest.call<unknown>(portalId, 'messageservice.sender.list');
    const registered = new Set(Array.isArray(listed) ? listed.map(String) : Object.values(listed ?? {}).map(String));
    // Read after sender.list: removing a sender on the settings page deletes it in Bitrix24 first and from the store
    // second, so this order narrows (it cannot close) the moment in which a sender just removed looks missing.
    // Missing from Bitrix24, or there under a name it no longer should have (registered_at cleared: settings-repo).
    const missing = (await deps.settings.senders(portalId)).filter((s) => !registered.has(s.code) || s.registeredAt == null);
    if (missing.length) {
      const handler = await deps.providers.handlerUrl(portalId);
      for (const s of missing) {
        await deps.providers.registerOne(portalId, s, handler);
        progress.providers++;
        progress.codes?.push(s.code);
      }
    }
    const bound = await deps.rest.call<Array<{ event?: string; handler?: string }>>(portalId, 'event.get');
    const unbound = LIFECYCLE_EVENTS.filter(
      (e) => !(Array.isArray(bound) && bound.some((b) => String(b.event).toUpperCase() === e && b.handler === deps.providers.eventsUrl)),
    );
    for (const event of unbound) {
      await deps.providers.bindEvents(portalId, [event]);
      progress.events++;
    }
  }

  async function checkPortal(portalId: number, codes?: string[]): Promise<ProviderCheckResult> {
    const progress = { providers: 0, events: 0, codes };
    let error: string | null = null;
    try {
      await repair(portalId, progress).catch(async (err) => {
        if ((err as { code?: string }).code !== 'ACCESS_DENIED' || !(await deps.identities?.promoteAdmin(portalId, deps.clock()))) throw err;
        deps.log.warn({ portalId }, 'provider.check.admin_token_promoted');
        await repair(portalId, progress);
      });
    } catch (err) {
      error = (err as { code?: string }).code ?? 'internal';
      deps.log.warn({ portalId, error, ...progress }, 'provider.check.failed');
    }
    if (progress.providers) deps.onRepair?.('provider', progress.providers);
    if (progress.events) deps.onRepair?.('event', progress.events);
    if (progress.providers || progress.events) deps.log.info({ portalId, ...progress }, 'provider.check.repaired');
    const outcome = error ? 'error' : progress.providers || progress.events ? 'repaired' : 'ok';
    return { checkedAt: deps.clock(), outcome, providersRepaired: progress.providers, eventsRepaired: progress.events, error };
  }

  async function runOnce(): Promise<{ checked: number; repaired: number; failed: number }> {
    const startedAt = deps.clock();
    const due = (await deps.portals.all()).filter((p) => p.status === 'active' && !p.disabledAt);
    const totals = { checked: 0, repaired: 0, failed: 0 };
    for (const p of due) {
      const held = await deps.leases.take(`provider_check:${p.id}`, deps.clock(), LEASE_MS);
      if (!held) continue; // another process checks it now
      try {
        const last = await deps.checks.last(p.id);
        if (last && last.checkedAt > startedAt) continue;
        const result = await checkPortal(p.id);
        await deps.checks.record(p.id, result);
        totals.checked++;
        if (result.providersRepaired || result.eventsRepaired) totals.repaired++;
        if (result.outcome === 'error') totals.failed++;
      } finally {
        await held.release(deps.clock());
      }
    }
    if (totals.checked) deps.log.info(totals, 'provider.check.ran');
    return totals;
  }

  /**
   * One portal's check now, outside the schedule (an app update without tokens: Bitrix24 deleted the app's providers):
   * under the same lease, and not when any process checked the portal within `minIntervalMs` (what anyone can ask for
   * costs the portal's REST budget at most that often). The codes of the providers registered again; undefined when
   * it did not run (checked lately, checked by another process now, or a portal that is not active or is disabled).
   */
  async function checkNow(portalId: number, minIntervalMs: number): Promise<{ registered: string[]; error: string | null } | undefined> {
    const p = await deps.portals.findById(portalId);
    if (!p || p.status !== 'active' || p.disabledAt) return undefined;
    const held = await deps.leases.take(`provider_check:${portalId}`, deps.clock(), LEASE_MS);
    if (!held) return undefined;
    try {
      const last = await deps.checks.last(portalId);
      if (last && deps.clock() - last.checkedAt < minIntervalMs && deps.clock() >= last.checkedAt) return undefined;
      const registered: string[] = [];
      const result = await checkPortal(portalId, registered);
      await deps.checks.record(portalId, result);
      return { registered, error: result.error };
    } finally {
      await held.release(deps.clock());
    }
  }

  return { runOnce, checkNow };
}

export type ProviderCheck = ReturnType<typeof createProviderCheck>;
