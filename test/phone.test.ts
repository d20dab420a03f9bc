import { describe, expect, it } from 'vitest';
import { maskPhone } from '../src/platform/logger.js';
import { normalizePhone } from '../src/messages/phone.js';

describe('phone numbers', () => {
  it.each([
    ['+7 (999) 123-45-67', '+79991234567'],
    ['89991234567', '+79991234567'],
    ['9991234567', '+79991234567'],
    ['+79172012345', '+79172012345'],
    ['+44 20 7946 0958', '+442079460958'],
  ])('normalises %s as typed in CRM to %s', (raw, e164) => {
    expect(normalizePhone(raw, 'RU')).toEqual({ ok: true, e164 });
  });

  it('uses the portal default country for national numbers', () => {
    expect(normalizePhone('050 123 4567', 'UA')).toEqual({ ok: true, e164: '+380501234567' });
  });

  it.each(['12', 'call me', '+7 999'])('rejects %s with a reason', (raw) => {
    const r = normalizePhone(raw, 'RU');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/^invalid phone number/);
  });

  it('masks all but the last four digits for logs', () => {
    expect(maskPhone('+79991234567')).toBe('*******4567');
    expect(maskPhone('12')).toBe('****');
  });
});
