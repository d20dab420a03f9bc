import { describe, expect, it, vi } from 'vitest';
import qs from 'qs';
import { parsePhpForm } from '../src/web/php-form.js';
import { smsForm } from './fakes/sms-body.js';

const parse = (body: string) => parsePhpForm(body, { maxFields: 5000, maxDepth: 32 });
/** What body-parser's "extended" urlencoded parser (qs) made of the same body: the handler's answers must not change. */
const viaQs = (body: string) => qs.parse(body, { allowPrototypes: true, arrayLimit: 20, depth: 32, parameterLimit: 5000, strictDepth: true });

describe('the handler form parser', () => {
  const bodies: Array<[string, string]> = [
    ['an SMS from a CRM card', smsForm({ portal: { memberId: 'm1', applicationToken: 't1', domain: 'x.bitrix24.ru', endpoint: 'https://x/rest/' }, code: 'c', to: '+7 (999) 123-45-67', text: 'Привет & = + %' })],
    ['an automation rule\'s SMS', smsForm({ portal: { memberId: 'm1', applicationToken: 't1' }, from: 'bizproc', text: 'a+b' })],
    ['an author-less SMS', smsForm({ auth: false })],
    ['a repeated field', 'message_to=1&message_to=2&x=a'],
    ['appended values', 'a[]=1&a[]=2&b[x][]=3'],
    ['indices out of order and sparse', 'a[2]=c&a[0]=a&b[5]=x'],
    ['indices beyond 20', 'a[21]=x&a[0]=y'],
    ['mixed keys', 'a[0]=x&a[b]=y'],
    ['spaces and escapes', 'a+b=c+d&e=%41%42&f=%E0%A4%A'],
    ['no values', 'a&b=&c'],
  ];
  for (const [name, body] of bodies) it(`reads ${name} as qs did`, () => expect(parse(body)).toEqual(viaQs(body)));

  it('reads a key that is not in bracket form as one plain name (qs guesses; no Bitrix24 field looks like that)', () => {
    expect(parse('a]=1&b[=2&c[d]e=3')).toEqual({ 'a]': '1', 'b[': '2', 'c[d]e': '3' });
  });

  it('an appended value takes its index without walking its group: 5,000 appends cost no more key reads than one', () => {
    // Object.keys over the group at every `a[]=` made a 30 kB anonymous body hold the event loop for ~150 ms.
    const spy = vi.spyOn(Object, 'keys');
    try {
      const parsed = parse(Array.from({ length: 5000 }, (_, i) => `a[x][]=${i}`).join('&')) as { a: { x: Record<string, string> } };
      const reads = spy.mock.calls.length;
      expect(Object.values(parsed.a.x)).toHaveLength(5000); // past index 20 a group, as qs makes it
      expect(parsed.a.x['4999']).toBe('4999');
      expect(reads).toBeLessThan(10);
    } finally {
      spy.mockRestore();
    }
  });

  it('drops prototype keys, refuses too many fields (413) and too deep nesting (400)', () => {
    const parsed = parse('__proto__[admin]=1&a[constructor][prototype]=2&b=3');
    expect(parsed).toEqual({ b: '3' });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(() => parse(Array.from({ length: 5001 }, (_, i) => `f${i}=1`).join('&'))).toThrow(expect.objectContaining({ status: 413, code: 'too_many_fields' }));
    expect(() => parse(`a${'[x]'.repeat(33)}=1`)).toThrow(expect.objectContaining({ status: 400, message: 'the form nests fields too deeply' }));
    expect(() => parse('a=1&a[b]=2')).toThrow(expect.objectContaining({ status: 400, message: 'the form field a is both a value and a group' }));
  });
});
