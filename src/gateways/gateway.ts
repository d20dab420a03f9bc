import type { FinalState } from '../messages/states.js';

/** Our reading of a gateway's status code: a state plus the gateway's own code and text, kept on the message. */
export interface GatewayStatus {
  state: 'sent' | FinalState;
  code: string;
  text: string;
}

export type SendOutcome =
  | { kind: 'accepted'; gatewayMessageId?: string; code: string; text: string }
  | { kind: 'retryable'; code: string; text: string }
  | { kind: 'permanent'; code: string; text: string }
  /** The request may have reached the gateway (e.g. a timeout after it was written): never resend blindly. */
  | { kind: 'unknown'; code: string; text: string };

export interface OutgoingSms {
  id: number;
  to: string; // E.164
  text: string;
  sender: string; // '' = the account's default sender
  dlrUrl: string; // where the gateway should report, for gateways that take it per message
  unicode: boolean;
}

export type CredentialCheck = { ok: true; balance?: number } | { ok: false; reason: string; retryable?: boolean };

/** One gateway account. Adapters get their HTTP dispatcher and timeouts from outside. */
export interface Gateway {
  readonly name: string;
  send(sms: OutgoingSms): Promise<SendOutcome>;
  checkCredentials(): Promise<CredentialCheck>;
  /** Bulk status lookup by gateway message id, where the gateway has one. */
  fetchStatuses?(ids: string[]): Promise<Map<string, GatewayStatus>>;
  readonly statusBatchSize?: number;
  /** Makes the gateway account post delivery reports to `url`, for gateways configured per account. */
  ensureCallback?(url: string): Promise<void>;
  /**
   * Whether an unknown outcome can still be settled by the gateway telling us (a DLR carrying our own id).
   * When false, an unknown outcome is final: failed, "outcome unknown".
   */
  readonly resolvesUnknownOutcome: boolean;
}

export const UNKNOWN_OUTCOME = 'outcome unknown';

/** undici codes for failures after the request may have been written: the outcome is unknown. */
const MAYBE_WRITTEN = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_ABORTED']);

/** A transport error: retryable when the request surely never left, unknown otherwise. */
export function transportOutcome(err: unknown): SendOutcome {
  const code = String((err as { code?: string } | null)?.code ?? 'ERROR');
  if (MAYBE_WRITTEN.has(code)) return { kind: 'unknown', code, text: `${UNKNOWN_OUTCOME}: ${code}` };
  return { kind: 'retryable', code, text: `gateway unreachable: ${code}` };
}
