import type { SimulatedBitrix24, SimulatedPortal } from './simulated-bitrix24/bitrix24.js';
import type { Lang } from '../web/i18n.js';

/**
 * The simulated portal's CRM: one contact card that sends SMS through the app's provider, and a "Send SMS"
 * automation rule for 100 contacts. Both go through the simulated Bitrix24 exactly as the real one does: the message
 * is created in the portal, then its queue POSTs the form body to the provider's HANDLER. What the card shows is
 * what the portal shows (`portal.shown`: sent at once, then what the app reported with
 * messageservice.message.status.update), nothing read from the app's side.
 */

/** A message sent from the card, as `GET /demo/messages` answers it. */
export interface CardSms {
  message_id: string;
  to: string;
  text: string;
  /** What the portal shows: `sent` from the start (core Sender\Sms\Rest::sendMessage), then the app's last report. */
  status: string;
}

export const FINAL = ['delivered', 'undelivered', 'failed'] as const;
export const RULE_CONTACTS = 100;
/** How many handler calls the portal's queue makes at once for the rule. */
const QUEUE_PARALLEL = 10;

/** The rule's contacts: +7 999 100-00-01 … +7 999 100-01-00, so ten numbers end in 0 and one in 00. */
export const ruleNumber = (i: number) => {
  const d = String(i).padStart(4, '0');
  return `+7 999 100-${d.slice(0, 2)}-${d.slice(2)}`;
};

/** What the card or the rule cannot send: no provider registered (install the app), or an empty or too long field. */
export class CrmInputError extends Error {
  constructor(readonly code: 'no_provider' | 'invalid') {
    super(code);
  }
}

export function createCrm(deps: { b24: SimulatedBitrix24; portal: SimulatedPortal; onError?: (err: unknown) => void }) {
  const { b24, portal } = deps;
  const card: Array<{ id: string; to: string; text: string }> = [];
  let rule: { ids: string[]; running: boolean } | undefined;

  // The app reports final statuses only, so before its report a message is "sent", as Bitrix24 marked it: never "queued".
  const shown = (id: string) => portal.shown.get(id) ?? 'sent';

  /** The providers registered in the portal, as its sender list shows them. */
  function providers(lang: Lang): Array<{ code: string; name: string }> {
    return [...portal.senders.values()].map((s) => {
      const name = typeof s.NAME === 'object' && s.NAME !== null ? ((s.NAME as Record<string, string>)[lang] ?? Object.values(s.NAME)[0]) : s.NAME;
      return { code: s.CODE, name: String(name ?? s.CODE) };
    });
  }

  function providerCode(code: string | undefined): string {
    if (code && portal.senders.has(code)) return code;
    const first = portal.senders.keys().next();
    if (first.done) throw new CrmInputError('no_provider');
    return first.value;
  }

  async function sendFromCard(input: { to: string; text: string; code?: string }): Promise<CardSms> {
    const to = input.to.trim();
    const text = input.text.trim();
    if (!to || to.length > 50 || !text || text.length > 1000) throw new CrmInputError('invalid');
    const code = providerCode(input.code);
    const { id } = await b24.dispatchSms(portal, { code, to, text, from: 'crm' });
    card.push({ id, to, text });
    return { message_id: id, to, text, status: shown(id) };
  }

  function cardMessages(): CardSms[] {
    return card.map((m) => ({ message_id: m.id, to: m.to, text: m.text, status: shown(m.id) }));
  }

  /**
   * The rule fires for 100 contacts at once: the portal creates the messages and its queue calls the handler for
   * them, several at a time. Robots' messages carry no author, so no auth block (reference §2). False when a run is
   * still going.
   */
  function runRule(text: string): boolean {
    const body = text.trim();
    if (!body || body.length > 1000) throw new CrmInputError('invalid');
    if (rule?.running) return false;
    const code = providerCode(undefined);
    const run = { ids: [] as string[], running: true };
    rule = run;
    let next = 1;
    const lane = async () => {
      for (let i = next++; i <= RULE_CONTACTS; i = next++) {
        try {
          const { id } = await b24.dispatchSms(portal, { code, to: ruleNumber(i), text: body, from: 'bizproc', withAuth: false });
          run.ids.push(id);
        } catch (err) {
          deps.onError?.(err);
        }
      }
    };
    void Promise.all(Array.from({ length: QUEUE_PARALLEL }, lane)).finally(() => (run.running = false));
    return true;
  }

  function ruleProgress() {
    const counts: Record<string, number> = { sent: 0, delivered: 0, undelivered: 0, failed: 0 };
    for (const id of rule?.ids ?? []) {
      const s = shown(id);
      counts[s] = (counts[s] ?? 0) + 1;
    }
    const final = FINAL.reduce((n, s) => n + (counts[s] ?? 0), 0);
    return { total: rule ? RULE_CONTACTS : 0, handedOver: rule?.ids.length ?? 0, final, counts, running: rule?.running ?? false };
  }

  return { providers, sendFromCard, cardMessages, runRule, ruleProgress };
}

export type Crm = ReturnType<typeof createCrm>;
