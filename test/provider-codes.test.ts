import { describe, expect, it } from 'vitest';
import { senderCode } from '../src/portals/providers.js';

describe('provider codes', () => {
  it('are fixed per sender and use only the characters Bitrix24 allows', () => {
    expect(senderCode('MyShop')).toBe('smsgw_myshop');
    expect(senderCode('')).toBe('smsgw_default');
    expect(senderCode('My Shop!')).toBe('smsgw_my_shop');
    expect(senderCode('Магазин')).toMatch(/^smsgw_[0-9a-f]{12}$/);
    expect(senderCode('Магазин')).toBe(senderCode('Магазин'));
  });
});
