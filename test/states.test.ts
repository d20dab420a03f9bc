import { describe, expect, it } from 'vitest';
import { predecessors } from '../src/messages/states.js';

describe('state machine', () => {
  it('moves only forwards and never out of a final state', () => {
    expect(predecessors('sent')).toEqual(['queued', 'sending']);
    expect(predecessors('delivered')).toEqual(['queued', 'sending', 'sent']);
    expect(predecessors('queued')).toEqual([]);
  });
});
