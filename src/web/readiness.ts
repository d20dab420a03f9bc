import type { Config } from '../platform/config.js';
import { isLocalUrl } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { SettingsRepo } from '../portals/settings-repo.js';

/** What the start page (`GET /`) says about the service: nothing secret, only whether each piece is in place. */
export interface Readiness {
  /** B24_CLIENT_ID and B24_CLIENT_SECRET are both set (their values are never shown). */
  credentials: boolean;
  /** PUBLIC_URL: public and https (`ok`), this machine (`local`), or plain http elsewhere (`http`). */
  publicUrl: 'ok' | 'local' | 'http';
  database: boolean;
  /** Installed portals with a gateway configured, by gateway kind; undefined when the database does not answer. */
  portals: Record<string, number> | undefined;
  /** What goes into Bitrix24's app form, built from PUBLIC_URL. */
  appUrl: string;
  installUrl: string;
  ready: boolean;
}

/** The scope the app asks Bitrix24 for; every other method it calls is open to every app. */
export const SCOPES = ['messageservice'] as const;

export async function readiness(deps: { config: Pick<Config, 'PUBLIC_URL' | 'B24_CLIENT_ID' | 'B24_CLIENT_SECRET'>; db: Db; settings: Pick<SettingsRepo, 'configuredByGateway'> }): Promise<Readiness> {
  const c = deps.config;
  const credentials = Boolean(c.B24_CLIENT_ID && c.B24_CLIENT_SECRET);
  const publicUrl = isLocalUrl(c.PUBLIC_URL) ? 'local' : c.PUBLIC_URL.startsWith('https:') ? 'ok' : 'http';
  let database = true;
  let portals: Record<string, number> | undefined;
  try {
    await deps.db.raw('select 1');
    portals = await deps.settings.configuredByGateway();
  } catch {
    database = false;
  }
  return {
    credentials, publicUrl, database, portals,
    appUrl: `${c.PUBLIC_URL}/`,
    installUrl: `${c.PUBLIC_URL}/install`,
    ready: credentials && publicUrl === 'ok' && database,
  };
}
