import type { Dispatcher } from 'undici';
import type { Log } from '../platform/logger.js';
import type { Gateway } from './gateway.js';
import { createKannelGateway } from './kannel.js';
import { createSmsRuGateway } from './smsru.js';

/** The gateway kinds a portal can choose (the form's `provider` field names one; Bitrix24's providers are something else). */
export const GATEWAYS = ['smsru', 'kannel'] as const;
export type GatewayKind = (typeof GATEWAYS)[number];

/**
 * Builds the adapter for a portal's gateway account from its stored settings.
 * `dispatcher` reaches addresses the operator configured (SMS.ru's API); `tenantDispatcher` reaches addresses a
 * portal's administrator typed (Kannel URL) and refuses internal ones. `log` receives masked excerpts of answers
 * that could not be used; nothing of an answer's body is ever shown to people.
 */
export function createGatewayFactory(opts: { smsruUrl: string; dispatcher: Dispatcher; tenantDispatcher: Dispatcher; timeoutMs: number; log?: Log }) {
  return function forAccount(gateway: string, credentials: Record<string, string>): Gateway {
    const common = { dispatcher: opts.dispatcher, timeoutMs: opts.timeoutMs, log: opts.log };
    if (gateway === 'smsru') return createSmsRuGateway({ ...common, baseUrl: opts.smsruUrl, apiKey: credentials.api_key ?? '' });
    if (gateway === 'kannel') {
      return createKannelGateway({ ...common, dispatcher: opts.tenantDispatcher, url: credentials.url ?? '', username: credentials.username ?? '', password: credentials.password ?? '' });
    }
    throw new Error(`unknown gateway ${gateway}`);
  };
}

export type GatewayFactory = ReturnType<typeof createGatewayFactory>;
