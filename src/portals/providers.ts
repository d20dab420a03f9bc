import { createHash } from 'node:crypto';
import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { B24Error } from '../bitrix/errors.js';
import type { RestClient } from '../bitrix/rest-client.js';
import { HANDLER_KEY_GRACE_MS, type PortalRepo } from './portal-repo.js';
import { sha256hex } from '../platform/crypto.js';
import type { SettingsRepo } from './settings-repo.js';
import { t } from '../web/i18n.js';

const CODE_PREFIX = 'smsgw';
// Shown as "[app name] NAME" in Bitrix24 when the sender has no name of its own (gateway default sender).
const DEFAULT_NAME = { ru: t('ru').defaultSenderName, en: t('en').defaultSenderName };
export const LIFECYCLE_EVENTS = ['ONAPPUNINSTALL', 'ONAPPUPDATE'] as const;
/**
 * Bound by the install page: ONAPPINSTALL too, which Bitrix24 sends once the install is finished with the
 * installer's tokens and the application_token (b24restdocs events/safe-event-handlers.md: its handler is set by the
 * install script, and it is where the token is first given; the app's frames carry none, core app.layout).
 */
export const INSTALL_EVENTS = ['ONAPPINSTALL', ...LIFECYCLE_EVENTS] as const;

/**
 * The provider CODE is fixed per app and sender name (reference §3: a-z A-Z 0-9 . - _, unique per app),
 * so registering the same sender again always names the same provider.
 */
export function senderCode(name: string): string {
  const slug = name.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '');
  if (!name.trim()) return `${CODE_PREFIX}_default`;
  if (slug && /^[\x20-\x7e]+$/.test(name.trim())) return `${CODE_PREFIX}_${slug}`.slice(0, 128);
  return `${CODE_PREFIX}_${createHash('sha256').update(name.trim()).digest('hex').slice(0, 12)}`;
}

/** Registers a portal's senders as Bitrix24 providers and binds the lifecycle events, idempotently. */
export function createProviderRegistry(deps: {
  rest: RestClient;
  portals: PortalRepo;
  settings: SettingsRepo;
  publicUrl: string;
  clock: Clock;
  log: Log;
}) {
  const urlOf = (key: string) => `${deps.publicUrl}/handler?key=${encodeURIComponent(key)}`;
  const handlerUrl = async (portalId: number) => urlOf(await deps.portals.handlerKey(portalId));
  const eventsUrl = `${deps.publicUrl}/events`;

  /**
   * What the CRM shows as the provider's name. On the sandbox gateway it says that nothing is sent: CRM users see
   * "delivered" for its messages, and only the provider's name tells them in Bitrix24 itself.
   */
  async function nameOf(portalId: number, name: string): Promise<string | Record<string, string>> {
    if ((await deps.settings.get(portalId))?.gateway !== 'sandbox') return name || DEFAULT_NAME;
    const say = (lang: 'ru' | 'en') => `${name || DEFAULT_NAME[lang]} (${t(lang).sandboxProviderSuffix})`;
    return { ru: say('ru'), en: say('en') };
  }

  /** sender.add; on ERROR_SENDER_ALREADY_INSTALLED bring the existing one up to date instead. */
  async function registerOne(portalId: number, s: { code: string; name: string }, handler: string) {
    const fields = { CODE: s.code, HANDLER: handler, NAME: await nameOf(portalId, s.name) };
    try {
      await deps.rest.call(portalId, 'messageservice.sender.add', { ...fields, TYPE: 'SMS' });
    } catch (err) {
      if (!(err instanceof B24Error) || err.code !== 'ERROR_SENDER_ALREADY_INSTALLED') throw err;
      try {
        await deps.rest.call(portalId, 'messageservice.sender.update', fields);
      } catch (e) {
        // Older and self-hosted portals lack sender.update (reference §3): delete and add again.
        if (!(e instanceof B24Error) || e.code !== 'ERROR_METHOD_NOT_FOUND') throw e;
        await deps.rest.call(portalId, 'messageservice.sender.delete', { CODE: s.code });
        await deps.rest.call(portalId, 'messageservice.sender.add', { ...fields, TYPE: 'SMS' });
      }
    }
    await deps.settings.markRegistered(portalId, s.code, deps.clock());
    deps.log.info({ portalId, code: s.code }, 'provider.registered');
  }

  /**
   * Every sender of the portal, with the handler URL of its current key. A rotation (the console's) may change the key
   * while this is under way: the key is read again after the last call, and the senders registered again while it
   * changed, so Bitrix24 is never left with a key that is about to end. Bitrix24 having the current key starts the
   * grace period of the one before it (a pending rotation's, whoever registered it).
   */
  async function registerAll(portalId: number): Promise<string[]> {
    let key = await deps.portals.handlerKey(portalId);
    for (let round = 1; ; round++) {
      const senders = await deps.settings.senders(portalId);
      for (const s of senders) await registerOne(portalId, s, urlOf(key));
      const now = await deps.portals.handlerKey(portalId);
      if (now === key || round >= 3) {
        await deps.portals.confirmHandlerKey(portalId, deps.clock(), HANDLER_KEY_GRACE_MS, sha256hex(key));
        return senders.map((s) => s.code);
      }
      key = now;
    }
  }

  /** Deletes the provider in Bitrix24, then (unless `keepRow`: the caller renames it) the stored sender. */
  async function unregister(portalId: number, code: string, keepRow = false) {
    try {
      await deps.rest.call(portalId, 'messageservice.sender.delete', { CODE: code });
    } catch (err) {
      if (!(err instanceof B24Error) || err.code !== 'ERROR_SENDER_NOT_FOUND') throw err;
    }
    if (!keepRow) await deps.settings.removeSender(portalId, code);
    deps.log.info({ portalId, code }, 'provider.unregistered');
  }

  /**
   * A repeated event.bind answers ERROR_CORE "Handler already binded". ERROR_CORE is generic, so
   * instead of reading its text we confirm with event.get that the binding is really there.
   */
  async function bindEvents(portalId: number, events: readonly string[] = LIFECYCLE_EVENTS) {
    for (const event of events) {
      try {
        await deps.rest.call(portalId, 'event.bind', { event, handler: eventsUrl });
      } catch (err) {
        if (!(err instanceof B24Error) || err.code !== 'ERROR_CORE') throw err;
        const bound = await deps.rest.call<Array<{ event: string; handler: string }>>(portalId, 'event.get');
        const found = bound.some((b) => b.event.toUpperCase() === event && b.handler === eventsUrl);
        if (!found) throw err;
      }
    }
  }

  return { registerOne, registerAll, unregister, bindEvents, handlerUrl, eventsUrl };
}

export type ProviderRegistry = ReturnType<typeof createProviderRegistry>;
