/**
 * Message states (the queue's state machine):
 * - queued: stored, waiting for a worker (again, after a retryable failure);
 * - sending: claimed by a worker under a lease; submitted_at set once the request is on its way;
 * - sent: accepted by the gateway; NOT delivered;
 * - delivered | undelivered | failed: final.
 * Bitrix24 accepts queued, sent, delivered, undelivered, failed; we report the final three.
 */
export type MessageState = 'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed';
export type FinalState = 'delivered' | 'undelivered' | 'failed';

export const FINAL_STATES: readonly FinalState[] = ['delivered', 'undelivered', 'failed'];
const RANK: Record<MessageState, number> = { queued: 0, sending: 1, sent: 2, delivered: 3, undelivered: 3, failed: 3 };

export const isFinal = (s: MessageState): s is FinalState => RANK[s] === 3;

/** States a message may move to `next` from: only forwards, and never out of a final state. */
export function predecessors(next: MessageState): MessageState[] {
  return (Object.keys(RANK) as MessageState[]).filter((s) => RANK[s] < RANK[next]);
}
