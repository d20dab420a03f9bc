import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { randomToken } from '../platform/crypto.js';
import type { RestClient } from '../bitrix/rest-client.js';
import type { ConnectionCheckRepo } from './connection-check-repo.js';
import type { ProviderRegistry } from './providers.js';

/**
 * Bitrix24's test event. `event.test` fires it only for handlers bound to it with event.bind (b24restdocs
 * `api-reference/events/test-handler.md`; core rest Event::eventTest runs OnRestAppTest, which reaches bound
 * handlers only). Each check binds it to our /events first (idempotent): portals installed before the check existed
 * get it too, and the lifecycle events the provider check guards stay as they are.
 */
export const CONNECTION_TEST_EVENT = 'ONAPPTEST';

/** How long the page waits for the test event before it says it did not arrive. */
export const CONNECTION_WAIT_MS = 10_000;

export type ConnectionState =
  | { state: 'none' }
  | { state: 'waiting'; requestedAt: number }
  | { state: 'arrived'; requestedAt: number; arrivedAt: number }
  | { state: 'lost'; requestedAt: number; waitedSeconds: number };

/**
 * "Check the connection" on the settings page. On-premise portals may block the cloud event queue, and then every
 * SMS is lost while the CRM shows it sent: the check asks Bitrix24 for a test event through that same queue, and
 * records its arrival in the database, where whichever web process the page polls sees it.
 */
export function createConnectionCheck(deps: {
  rest: RestClient;
  providers: Pick<ProviderRegistry, 'bindEvents'>;
  checks: ConnectionCheckRepo;
  clock: Clock;
  log: Log;
  waitMs?: number;
}) {
  const waitMs = deps.waitMs ?? CONNECTION_WAIT_MS;

  /** Binds ONAPPTEST where it is missing, then asks for the test event. Throws B24Error. */
  async function start(portalId: number): Promise<ConnectionState> {
    await deps.providers.bindEvents(portalId, [CONNECTION_TEST_EVENT]);
    const nonce = randomToken(16);
    await deps.checks.start(portalId, nonce, deps.clock());
    // event.test puts its parameters in the event's data[QUERY]: the nonce tells this check's event from older ones.
    await deps.rest.call(portalId, 'event.test', { check: nonce });
    deps.log.info({ portalId }, 'connection.check.started');
    return status(portalId);
  }

  async function status(portalId: number): Promise<ConnectionState> {
    const c = await deps.checks.latest(portalId);
    if (!c) return { state: 'none' };
    if (c.arrivedAt !== null) return { state: 'arrived', requestedAt: c.requestedAt, arrivedAt: c.arrivedAt };
    if (deps.clock() - c.requestedAt < waitMs) return { state: 'waiting', requestedAt: c.requestedAt };
    return { state: 'lost', requestedAt: c.requestedAt, waitedSeconds: Math.round(waitMs / 1000) };
  }

  /** ONAPPTEST from an authenticated portal: true when it answered the current check. */
  async function arrived(portalId: number, nonce: string | undefined): Promise<boolean> {
    const matched = nonce ? await deps.checks.arrived(portalId, nonce, deps.clock()) : false;
    deps.log.info({ portalId, matched }, 'connection.check.arrived');
    return matched;
  }

  return { start, status, arrived };
}

export type ConnectionCheck = ReturnType<typeof createConnectionCheck>;
