import { describe, expect, it } from 'vitest';
import { addressKey, createFailureLog } from '../src/console/login-throttle.js';

describe('failure log', () => {
  it('never holds more keys than its cap, dropping expired keys first, then the longest quiet', () => {
    const log = createFailureLog({ limit: 2, windowMs: 1000, maxKeys: 100 });
    log.fail('old', 0);
    log.fail('locked', 500);
    log.fail('locked', 500);
    for (let i = 0; i < 98; i++) log.fail(`a${i}`, 900);
    expect(log.size).toBe(100);
    log.fail('new', 1200); // 'old' expired: it goes, the locked key stays
    expect(log.size).toBe(100);
    expect(log.lockedUntil('locked', 1200)).toBe(1500);
    for (let i = 0; i < 10_000; i++) log.fail(`flood${i}`, 1300);
    expect(log.size).toBe(100);
    expect(log.lockedUntil('flood9999', 1300)).toBeUndefined();
    log.fail('flood9999', 1300);
    expect(log.lockedUntil('flood9999', 1300)).toBe(2300);
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped address as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
  });
});
