import { describe, expect, it } from 'vitest';
import { SegmentedMessage } from 'sms-segments-calculator';
import { MAX_SEGMENTS, segmentsOf } from '../src/gateways/segments.js';

const a = (n: number) => 'a'.repeat(n);
const zh = (n: number) => 'ж'.repeat(n);

describe('segmentsOf', () => {
  it.each([
    [160, 1], [161, 2], [306, 2], [307, 3],
  ])('%i Latin characters make %i GSM-7 parts', (length, segments) => {
    expect(segmentsOf(a(length))).toEqual({ segments, encoding: 'GSM-7' });
  });

  it.each([
    [80, 1], [81, 2],
  ])('%i euro signs (two septets each) make %i GSM-7 parts', (length, segments) => {
    expect(segmentsOf('€'.repeat(length))).toEqual({ segments, encoding: 'GSM-7' });
  });

  it.each([
    [70, 1], [71, 2], [134, 2], [135, 3],
  ])('%i Cyrillic characters make %i UCS-2 parts', (length, segments) => {
    expect(segmentsOf(zh(length))).toEqual({ segments, encoding: 'UCS-2' });
  });

  it('counts an empty text as one GSM-7 SMS', () => {
    expect(segmentsOf('')).toEqual({ segments: 1, encoding: 'GSM-7' });
  });

  it('counts an extension character as two septets in a single SMS', () => {
    expect(segmentsOf(a(158) + '€')).toEqual({ segments: 1, encoding: 'GSM-7' });
    expect(segmentsOf(a(159) + '€')).toEqual({ segments: 2, encoding: 'GSM-7' });
  });

  it('never splits an extension character across parts', () => {
    // Both are 306 septets; only where the € falls decides whether it fits in two parts.
    expect(segmentsOf(a(151) + '€' + a(153))).toEqual({ segments: 2, encoding: 'GSM-7' });
    expect(segmentsOf(a(152) + '€' + a(152))).toEqual({ segments: 3, encoding: 'GSM-7' });
  });

  it('counts a character outside the BMP as two UCS-2 units', () => {
    expect(segmentsOf(zh(68) + '😀')).toEqual({ segments: 1, encoding: 'UCS-2' });
    expect(segmentsOf(zh(69) + '😀')).toEqual({ segments: 2, encoding: 'UCS-2' });
    expect(segmentsOf('😀'.repeat(35))).toEqual({ segments: 1, encoding: 'UCS-2' });
    expect(segmentsOf('😀'.repeat(36))).toEqual({ segments: 2, encoding: 'UCS-2' });
  });

  it('never splits a surrogate pair across parts', () => {
    // Both are 134 units; only where the emoji falls decides whether it fits in two parts.
    expect(segmentsOf(zh(65) + '😀' + zh(67))).toEqual({ segments: 2, encoding: 'UCS-2' });
    expect(segmentsOf(zh(66) + '😀' + zh(66))).toEqual({ segments: 3, encoding: 'UCS-2' });
  });

  it('may split a flag between its two code points, since gateways.md keeps only surrogate pairs together', () => {
    // sms-segments-calculator keeps a whole grapheme in one part and says 3 here.
    expect(segmentsOf(zh(65) + '🇩🇪' + zh(65))).toEqual({ segments: 2, encoding: 'UCS-2' });
  });

  it('counts a lone surrogate as one UCS-2 unit', () => {
    expect(segmentsOf(zh(69) + '\ud83d')).toEqual({ segments: 1, encoding: 'UCS-2' });
    expect(segmentsOf('\ude00' + zh(70))).toEqual({ segments: 2, encoding: 'UCS-2' });
  });

  it('makes the whole text UCS-2 when one character is outside GSM-7, wherever it is', () => {
    expect(segmentsOf(a(100) + 'ж')).toEqual({ segments: 2, encoding: 'UCS-2' });
    expect(segmentsOf('ж' + a(100))).toEqual({ segments: 2, encoding: 'UCS-2' });
    expect(segmentsOf('Order shipped 📦')).toEqual({ segments: 1, encoding: 'UCS-2' });
    expect(segmentsOf(a(140) + 'ç')).toEqual({ segments: 3, encoding: 'UCS-2' });
  });

  it('counts extension characters as one unit each once the text is UCS-2', () => {
    expect(segmentsOf('€'.repeat(69) + 'ж')).toEqual({ segments: 1, encoding: 'UCS-2' });
    expect(segmentsOf('{}'.repeat(35) + 'ж')).toEqual({ segments: 2, encoding: 'UCS-2' });
  });

  it('keeps a text with CRLF line breaks, Greek capitals and accented GSM letters in GSM-7', () => {
    expect(segmentsOf('Grüße,\r\nÆøå ΔΣΩ é à ¿¡ £5 @home\n' + a(120))).toEqual({ segments: 1, encoding: 'GSM-7' });
  });

  it(`counts past MAX_SEGMENTS (${MAX_SEGMENTS}), so the intake can refuse such texts`, () => {
    expect(segmentsOf(a(MAX_SEGMENTS * 153)).segments).toBe(MAX_SEGMENTS);
    expect(segmentsOf(a(MAX_SEGMENTS * 153 + 1)).segments).toBe(MAX_SEGMENTS + 1);
  });

  it('counts a 1 MB text', () => {
    const mb = 1 << 20;
    expect(segmentsOf(a(mb))).toEqual({ segments: Math.ceil(mb / 153), encoding: 'GSM-7' });
    // 33 emoji (66 units) per part, the 67th unit never takes half an emoji.
    expect(segmentsOf('😀'.repeat(mb / 2))).toEqual({ segments: Math.ceil(mb / 2 / 33), encoding: 'UCS-2' });
  });
});

describe('segments', () => {
  it.each([
    ['a'.repeat(160), 1, 'GSM-7'], ['a'.repeat(161), 2, 'GSM-7'], ['a'.repeat(306), 2, 'GSM-7'], ['a'.repeat(307), 3, 'GSM-7'],
    ['ж'.repeat(70), 1, 'UCS-2'], ['ж'.repeat(71), 2, 'UCS-2'], ['ж'.repeat(134), 2, 'UCS-2'], ['ж'.repeat(135), 3, 'UCS-2'],
    ['€'.repeat(80), 1, 'GSM-7'], ['€'.repeat(81), 2, 'GSM-7'], ['hi 😀', 1, 'UCS-2'],
  ] as const)('%#: %i parts of %s', (text, segments, encoding) => {
    expect(segmentsOf(text)).toEqual({ segments, encoding });
  });
});

describe('segmentsOf against sms-segments-calculator', () => {
  // Each pool is one code point per character. Multi-code-point graphemes (flags, ZWJ sequences, skin
  // tones, U+FE0F, combining marks) are left out on purpose: the library never splits a grapheme across
  // parts, while gateways.md §3 keeps only a surrogate pair together (see the flag test above).
  const pools = [
    [...'@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'],
    [...'^{}\\[~]|€\f'],
    [...'абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ'],
    [...'😀🎉🚀👍📦🙂🔥💬'],
  ];

  // mulberry32: seeded, so a failure names a text that can be reproduced.
  const seeded = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  it('agrees on 1,000 random texts of up to 400 characters', () => {
    const random = seeded(20261122);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const seen = new Set<string>();
    for (let n = 0; n < 1000; n++) {
      // Most texts draw from one or two pools, else nearly every text would be UCS-2 and multi-part.
      const mix = [pools[0]!, ...pools.filter(() => random() < 0.3)];
      const length = Math.floor(random() * 401);
      let text = '';
      for (let i = 0; i < length; i++) text += pick(pick(mix));
      const old = new SegmentedMessage(text, 'auto');
      const expected = { segments: old.segmentsCount, encoding: old.encodingName };
      expect(segmentsOf(text), JSON.stringify(text)).toEqual(expected);
      seen.add(`${expected.encoding} ${Math.min(expected.segments, 3)}`);
    }
    // Guards the generator: both encodings, each at one, two and three or more parts.
    expect([...seen].sort()).toEqual(['GSM-7 1', 'GSM-7 2', 'GSM-7 3', 'UCS-2 1', 'UCS-2 2', 'UCS-2 3']);
  });
});
