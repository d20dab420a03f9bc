import type { Dispatcher } from 'undici';
import { createDispatcher } from './http.js';

/**
 * The dispatcher for gateway addresses chosen on a portal's form (Kannel URL, SMPP host): refuses loopback,
 * private, link-local and metadata addresses and this service itself unless `allowPrivate`.
 * STUB: to be implemented (issue 7, item 5).
 */
export function createGatewayDispatcher(_opts: { allowPrivate: boolean; publicUrl: string }): Dispatcher {
  return createDispatcher();
}
