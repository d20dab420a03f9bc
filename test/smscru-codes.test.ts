import { describe, expect, it } from 'vitest';
import {
  isSmscruNotFound, SMSCRU_SEND_ERRORS, SMSCRU_STATUS, SMSCRU_STATUS_ERR, smscruSendError, smscruStatus,
} from '../src/gateways/smscru.codes.js';

// Expected readings from gateways.md §5 and SMSC's API pages, one row each.
const sendErrors: Array<[number, 'permanent' | 'retryable', 'slowDown' | 'blocked' | undefined]> = [
  [1, 'permanent', undefined], // bad parameters
  [2, 'permanent', undefined], // wrong login or password, or address not allowed
  [3, 'permanent', undefined], // no money
  [4, 'retryable', 'blocked'], // this address blocked for a while
  [5, 'permanent', undefined], // bad date
  [6, 'permanent', undefined], // forbidden text or sender
  [7, 'permanent', undefined], // wrong number format
  [8, 'permanent', undefined], // cannot deliver to this number
  [9, 'retryable', 'slowDown'], // the same send within a minute, or too many at once
];
const statuses: Array<[number, string]> = [
  [-3, 'notFound'], [-2, 'failed'], [-1, 'sent'], [0, 'sent'], [1, 'delivered'], [2, 'delivered'], [3, 'undelivered'],
  [4, 'delivered'], [20, 'undelivered'], [22, 'failed'], [23, 'failed'], [24, 'failed'], [25, 'failed'],
];
const errs: Array<[number, RegExp]> = [
  [1, /does not exist/], [6, /offline/], [200, /test mode/], [248, /no route/], [249, /number format/], [253, /spam/], [254, /sender/], [255, /operator/],
];

describe('SMSC.ru mapping tables', () => {
  it('cover every documented code', () => {
    expect(Object.keys(SMSCRU_SEND_ERRORS).map(Number).sort()).toEqual(sendErrors.map(([c]) => c).sort());
    expect(Object.keys(SMSCRU_STATUS).map(Number).sort()).toEqual(statuses.map(([c]) => c).sort());
    expect(Object.keys(SMSCRU_STATUS_ERR).map(Number).sort()).toEqual(errs.map(([c]) => c).sort());
  });

  it.each(sendErrors)('send.php error %i → %s (throttle: %s)', (code, kind, throttle) => {
    expect(smscruSendError(code)).toMatchObject({ kind });
    expect(smscruSendError(code).throttle).toBe(throttle);
  });

  it.each(statuses)('status %i → %s', (status, state) => {
    if (state === 'notFound') {
      expect(isSmscruNotFound(status)).toBe(true);
      expect(smscruStatus(status)).toBeUndefined();
    } else {
      expect(isSmscruNotFound(status)).toBe(false);
      expect(smscruStatus(status)).toMatchObject({ state, code: String(status) });
    }
  });

  it.each(errs)('err %i inside a status is named in its text', (err, words) => {
    expect(smscruStatus(20, err)?.text).toMatch(words);
  });

  it('words an undocumented err by number, and reads an undocumented error as permanent and an undocumented status as nothing', () => {
    expect(smscruStatus(20, 77)?.text).toBe('not delivered: error 77');
    expect(smscruStatus(1, 0)?.text).toBe('delivered');
    expect(smscruSendError(99)).toMatchObject({ kind: 'permanent', text: 'SMSC.ru error 99' });
    expect(smscruStatus(99)).toBeUndefined();
  });
});
