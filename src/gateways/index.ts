import type { Dispatcher } from 'undici';
import type { Log } from '../platform/logger.js';
import type { Gateway } from './gateway.js';
import { createKannelGateway } from './kannel.js';
import { createSmsRuGateway } from './smsru.js';

export const PROVIDERS = ['smsru', 'kannel'] as const;
export type Provider = (typeof PROVIDERS)[number];

/**
 * Builds the adapter for a portal's gateway account from its stored settings.
 * `dispatcher` reaches addresses the operator configured (SMS.ru's API); `tenantDispatcher` reaches addresses a
 * portal's administrator typed (Kannel URL) and refuses internal ones. `log` receives masked excerpts of answers
 * that could not be used; nothing of an answer's body is ever shown to people.
 */
export function createGatewayFactory(opts: { smsruUrl: string; dispatcher: Dispatcher; tenantDispatcher: Dispatcher; timeoutMs: number; log?: Log }) {
  return function forAccount(provider: string, credentials: Record<string, string>): Gateway {
    const common = { dispatcher: opts.dispatcher, timeoutMs: opts.timeoutMs, log: opts.log };
    if (provider === 'smsru') return createSmsRuGateway({ ...common, baseUrl: opts.smsruUrl, apiKey: credentials.api_key ?? '' });
    if (provider === 'kannel') {
      return createKannelGateway({ ...common, dispatcher: opts.tenantDispatcher, url: credentials.url ?? '', username: credentials.username ?? '', password: credentials.password ?? '' });
    }
    throw new Error(`unknown provider ${provider}`);
  };
}

export type GatewayFactory = ReturnType<typeof createGatewayFactory>;
