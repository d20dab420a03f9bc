import type { GatewayStatus } from '../gateways/gateway.js';
import type { QueueRepo, StatusFields } from './queue-repo.js';

/**
 * Applies a status from the gateway, whether polled (statuses job) or pushed (delivery reports). Forward-only:
 * a late `sent` after `delivered` is neither stored nor reported. Returns whether the message changed. `extra`:
 * what the report also tells (an SMPP receipt that settles an unknown outcome brings the message's gateway id).
 */
export async function applyGatewayStatus(queue: QueueRepo, id: number, s: GatewayStatus, now: number, extra: StatusFields = {}): Promise<boolean> {
  const failure = s.state === 'undelivered' || s.state === 'failed' ? { failure_reason: s.text || `gateway status ${s.code}` } : {};
  return queue.advance(id, s.state, now, { ...extra, gateway_status: s.code.slice(0, 32), gateway_status_text: s.text.slice(0, 500), ...failure });
}
