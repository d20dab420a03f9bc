import type { Response } from 'express';
import { z } from 'zod';
import { GATEWAYS } from '../gateways/index.js';
import { LOG_WINDOW, type LogFilter, type LogRepo } from '../messages/log-repo.js';
import { maskRecipient } from '../messages/phone.js';
import type { MessageState } from '../messages/states.js';
import { settingsPage, type SettingsView } from '../../views/settings-page.js';
import { sendPage } from './frame.js';
import type { FormTokens, Holder } from './form-token.js';
import type { Portal } from './portal-repo.js';
import type { GatewaySettings, SettingsRepo } from './settings-repo.js';
import { smppFormValues } from './smpp-form.js';

const PAGE_SIZE = 50;

const dayStart = (s: string) => Date.parse(`${s}T00:00:00Z`);
/** YYYY-MM-DD of a day that exists: 2024-13-45 or 2024-02-30 is no filter (its NaN failed the query on PostgreSQL). */
const calendarDay = () => z.string().regex(/^\d{4}-\d{2}-\d{2}$/).refine((s) => {
  const t = dayStart(s);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
});

export const logQuery = z.object({
  status: z.enum(['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed']).optional().catch(undefined),
  from: calendarDay().optional().catch(undefined),
  to: calendarDay().optional().catch(undefined),
  page: z.coerce.number().int().min(1).max(100_000).default(1).catch(1),
  full: z.literal('1').optional().catch(undefined),
});
export type LogQuery = z.infer<typeof logQuery>;

export function filterFrom(q: LogQuery): LogFilter {
  return { status: q.status as MessageState | undefined, from: q.from ? dayStart(q.from) : undefined, to: q.to ? dayStart(q.to) + 86_400_000 : undefined };
}

/**
 * The app's page inside Bitrix24, rendered for one holder: every form gets a fresh token for its own action, and a
 * non-administrator gets only the message log's. The template gets its data shaped: recipients are masked here,
 * unless an administrator asked for full numbers.
 */
export function createSettingsView(deps: {
  settings: Pick<SettingsRepo, 'get' | 'senders'>;
  logs: Pick<LogRepo, 'page'>;
  formTokens: Pick<FormTokens, 'mint'>;
  /** The gateway's live balance (see the settings service): null when it could not be asked. */
  balance: (portalId: number, saved: GatewaySettings) => Promise<number | null | undefined>;
}) {
  async function render(res: Response, status: number, holder: Holder, portal: Portal, extra: Partial<SettingsView> & { withBalance?: boolean; query?: unknown } = {}) {
    const q = logQuery.parse(extra.query ?? {});
    const [saved, senders, log] = await Promise.all([
      deps.settings.get(portal.id),
      deps.settings.senders(portal.id),
      deps.logs.page(portal.id, filterFrom(q), q.page, PAGE_SIZE),
    ]);
    const balance = holder.admin && saved && extra.withBalance ? await deps.balance(portal.id, saved) : undefined;
    const mint = deps.formTokens.mint;
    const tokens = holder.admin
      ? {
          log: mint(holder, 'app.log'), gateway: mint(holder, 'app.gateway'), sendersAdd: mint(holder, 'app.senders.add'),
          sendersRemove: mint(holder, 'app.senders.remove'), testSms: mint(holder, 'app.test-sms'), message: mint(holder, 'app.message'),
          connection: mint(holder, 'app.connection-check'), connectionStatus: mint(holder, 'app.connection-status'),
        }
      : { log: mint(holder, 'app.log') };
    const full = q.full === '1' && holder.admin;
    sendPage(res, status, settingsPage({
      lang: holder.lang,
      admin: holder.admin,
      tokens,
      gateways: GATEWAYS,
      gateway: saved && {
        kind: saved.gateway, balance,
        kannelUrl: saved.gateway === 'kannel' ? saved.credentials.url : undefined,
        kannelUsername: saved.gateway === 'kannel' ? saved.credentials.username : undefined,
        kannelMaxParts: saved.gateway === 'kannel' ? saved.credentials.max_parts : undefined,
        smscruLogin: saved.gateway === 'smscru' ? saved.credentials.login : undefined,
        smpp: saved.gateway === 'smpp' ? smppFormValues(saved.credentials) : undefined,
      },
      defaultCountry: portal.defaultCountry,
      reportsWaiting: portal.reportsWaitingSince !== null,
      senders,
      log: {
        entries: log.entries.map((e) => ({ ...e, to: full ? e.to : maskRecipient(e.to) })),
        total: log.total,
        window: log.windowed ? LOG_WINDOW : undefined,
        page: Math.min(q.page, Math.max(1, Math.ceil(log.total / PAGE_SIZE))),
        pageSize: PAGE_SIZE,
        filter: { status: q.status, from: q.from, to: q.to },
        full,
      },
      ...extra,
    }));
  }

  return { render };
}

export type SettingsViewRenderer = ReturnType<typeof createSettingsView>;
