import { SegmentedMessage } from 'sms-segments-calculator';

/** GSM-7 160/153 or UCS-2 70/67 per part (gateways.md §3); any non-GSM character makes the whole text UCS-2. */
export function segmentsOf(text: string): { segments: number; encoding: 'GSM-7' | 'UCS-2' } {
  const m = new SegmentedMessage(text, 'auto');
  return { segments: m.segmentsCount, encoding: m.encodingName };
}
