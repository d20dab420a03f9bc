import { B24Error } from '../bitrix/errors.js';
import type { RestClient } from '../bitrix/rest-client.js';

/**
 * What the app cannot work without, and the Bitrix24 module each comes with. On-premise portals update when their
 * owner decides to, so any of them may be missing (b24restdocs `settings/cloud-and-on-premise/on-premise/`).
 */
export const REQUIRED_METHODS = [
  { method: 'messageservice.sender.add', module: 'messageservice' },
  { method: 'messageservice.message.status.update', module: 'messageservice' },
  { method: 'event.bind', module: 'rest' },
] as const;

export type Required = (typeof REQUIRED_METHODS)[number];

/**
 * `missing`: the portal has no such method (update Bitrix24); `unavailable`: it has, but not for this app's scopes;
 * `unknown`: the portal is too old to say (it has neither method.get nor the deprecated `methods`).
 */
export type MethodCheck = { ok: true } | { ok: false; missing: Required[]; unavailable: Required[]; unknown: boolean };

const notFound = (err: unknown) => err instanceof B24Error && err.code === 'ERROR_METHOD_NOT_FOUND';

/**
 * Asks the portal with `method.get` (b24restdocs `api-reference/common/system/method-get.md`: key `name`, lower
 * case only; result `{isExisting, isAvailable}`) whether each required method exists and may be called. A portal
 * older than method.get is asked with the deprecated `methods` list instead, which names only what the app may
 * call; one without either is too old. Throws B24Error when the portal does not answer.
 */
export async function checkMethods(rest: RestClient, portalId: number): Promise<MethodCheck> {
  const missing: Required[] = [];
  const unavailable: Required[] = [];
  try {
    for (const r of REQUIRED_METHODS) {
      const got = await rest.call<{ isExisting?: unknown; isAvailable?: unknown }>(portalId, 'method.get', { name: r.method });
      if (got?.isExisting !== true) missing.push(r);
      else if (got.isAvailable !== true) unavailable.push(r);
    }
  } catch (err) {
    if (!notFound(err)) throw err;
    return byMethodsList(rest, portalId);
  }
  return missing.length || unavailable.length ? { ok: false, missing, unavailable, unknown: false } : { ok: true };
}

async function byMethodsList(rest: RestClient, portalId: number): Promise<MethodCheck> {
  let list: unknown;
  try {
    list = await rest.call<unknown>(portalId, 'methods');
  } catch (err) {
    if (!notFound(err)) throw err;
    return { ok: false, missing: [...REQUIRED_METHODS], unavailable: [], unknown: true };
  }
  const names = new Set(Array.isArray(list) ? list.map((m) => String(m).toLowerCase()) : []);
  const missing = REQUIRED_METHODS.filter((r) => !names.has(r.method));
  return missing.length ? { ok: false, missing, unavailable: [], unknown: false } : { ok: true };
}

/** The portal lacks what the app needs: nothing was registered. */
export class PortalTooOld extends Error {
  constructor(readonly check: Extract<MethodCheck, { ok: false }>) {
    super(`the portal lacks ${[...check.missing, ...check.unavailable].map((r) => r.method).join(', ')}`);
    this.name = 'PortalTooOld';
  }
}
