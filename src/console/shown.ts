/**
 * What the console shows of what a portal's server said. Any public host can be a "portal" (on-premise), and the
 * console is the operator's trusted page: a portal's server must not put words of its own into it ("your session
 * expired, sign in again at …"). So only what looks like a code is shown, and the words around it are ours.
 */

/** An error code as the console shows it: Bitrix24's are like QUERY_LIMIT_EXCEEDED or invalid_grant. */
export const shownCode = (code: unknown) => (typeof code === 'string' && /^[A-Za-z0-9_.]{1,64}$/.test(code) ? code : 'error');

// The terminal answers of src/bitrix/errors.ts (and NO_AUTH_FOUND after a refresh, PORTAL_DELETED given up), in our words.
const INACTIVE_BECAUSE: Record<string, string> = {
  invalid_grant: 'the OAuth server refused the portal\'s refresh token',
  invalid_client: 'the OAuth server refused the app\'s client id or secret: set B24_CLIENT_ID and B24_CLIENT_SECRET as the app\'s, restart, then',
  wrong_client: 'the OAuth server refused the app\'s client id or secret: set B24_CLIENT_ID and B24_CLIENT_SECRET as the app\'s, restart, then',
  PAYMENT_REQUIRED: 'the portal\'s plan is not paid',
  APPLICATION_NOT_FOUND: 'the app is gone from the portal',
  PLAN_WITHOUT_REST: 'the portal\'s plan has no REST',
  NO_AUTH_FOUND: 'the portal refused even freshly refreshed tokens',
  PORTAL_DELETED: 'the portal\'s public part stayed closed for days',
};

/**
 * A portal's stored inactive reason ("CODE: the portal's description", src/bitrix/rest-client.ts) as the console
 * shows it: the code, and what it means in our words. The stored description stays for the portal's own pages.
 */
export function shownInactiveReason(stored: string | null): string {
  if (stored === null) return '';
  const code = shownCode(stored.split(': ')[0]);
  const because = (Object.hasOwn(INACTIVE_BECAUSE, code) ? INACTIVE_BECAUSE[code] : undefined) ?? 'Bitrix24 refused the app\'s calls';
  // The operator's own settings are the cause there: fixed first, or no administrator's visit helps.
  return `${code}: ${because}${because.endsWith(', then') ? '' : ';'} an administrator opening the app revives it`;
}
