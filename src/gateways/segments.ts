/*
 * Our own counter rather than npm sms-segments-calculator: that library splits the text into graphemes by
 * concatenating arrays, which is quadratic (40,000 characters took 8 s, 1 MB over ten minutes) and stalled
 * the whole service. This one walks the string once and allocates nothing per character.
 */

/** The UDH numbers the parts of a concatenated SMS in one byte, so no gateway can carry more parts than this. */
export const MAX_SEGMENTS = 255;

// gateways.md §3. The 6-byte UDH of a concatenated SMS costs 7 septets or 3 UCS-2 units per part.
const GSM7 = { single: 160, perPart: 153 };
const UCS2 = { single: 70, perPart: 67 };

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
// Sent as ESC + a basic septet, hence two septets each.
const GSM_EXTENSION = '^{}\\[~]|€\f';

const SEPTETS = new Map<number, number>([
  ...[...GSM_BASIC].map((c) => [c.charCodeAt(0), 1] as const),
  ...[...GSM_EXTENSION].map((c) => [c.charCodeAt(0), 2] as const),
]);

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** GSM-7 160/153 or UCS-2 70/67 per part (gateways.md §3); any non-GSM character makes the whole text UCS-2. */
export function segmentsOf(text: string): { segments: number; encoding: 'GSM-7' | 'UCS-2' } {
  // The encoding is only known at the end, so both packings run side by side; the GSM-7 one stops at the
  // first character it cannot carry. Parts fill greedily because a character never straddles two parts.
  let gsm = true;
  let septets = 0;
  let gsmParts = 1;
  let gsmInPart = 0;
  let units = 0;
  let ucsParts = 1;
  let ucsInPart = 0;

  for (let i = 0, width = 1; i < text.length; i += width) {
    const code = text.charCodeAt(i);
    // A lone surrogate is still one unit on the wire; only a real pair must stay in one part.
    width = isHighSurrogate(code) && isLowSurrogate(text.charCodeAt(i + 1)) ? 2 : 1;
    if (ucsInPart + width > UCS2.perPart) {
      ucsParts++;
      ucsInPart = 0;
    }
    ucsInPart += width;
    units += width;

    if (!gsm) continue;
    const size = SEPTETS.get(code);
    if (size === undefined) {
      gsm = false;
      continue;
    }
    if (gsmInPart + size > GSM7.perPart) {
      gsmParts++;
      gsmInPart = 0;
    }
    gsmInPart += size;
    septets += size;
  }

  // An empty text is still one (empty) SMS, as the library we replaced said.
  if (gsm) return { segments: septets <= GSM7.single ? 1 : gsmParts, encoding: 'GSM-7' };
  return { segments: units <= UCS2.single ? 1 : ucsParts, encoding: 'UCS-2' };
}
