/**
 * The form body Bitrix24 POSTs to a provider's HANDLER for one SMS (../shared/reference/bitrix24.md §2), in PHP
 * bracket notation and in the reference's field order. The one place that builds it: the simulated Bitrix24 (and so the demo), the
 * test helpers, the tests and the bench all take it from here.
 */

/** Whose auth block: what the portal's install gave us. Without a domain or endpoint those two fields are left out. */
export interface SmsAuthor {
  memberId: string;
  applicationToken: string;
  domain?: string;
  endpoint?: string;
}

export interface SmsBodyOptions {
  /** The portal the auth block names; without one (and without `auth` fields) the body has no auth block. */
  portal?: SmsAuthor;
  code?: string;
  /** message_id; a fresh 32-hex id when not given. */
  id?: string;
  /** Recipient as typed in the CRM (message_to and properties[phone_number]). */
  to?: string;
  /** Text (message_body and properties[message_text]). */
  text?: string;
  /** Unix time in seconds; now when not given. */
  ts?: number;
  /** Sent from a CRM card (`bindings[…]`, the default) or by an automation rule / business process. */
  from?: 'crm' | 'bizproc';
  /** The CRM items a `crm` message belongs to. */
  bindings?: Array<{ OWNER_TYPE_ID: string; OWNER_ID: string }>;
  /** `false`: an author-less message, no auth block at all. Otherwise fields that replace the portal's (`member_id`, …). */
  auth?: false | Record<string, string>;
  /** Applied last, by full field name (`message_to`, `auth[member_id]`): a string sets a field, undefined removes it. */
  fields?: Record<string, string | undefined>;
}

let seq = 0;

/** A message id shaped like Bitrix24's (32 hex characters), unique in this process. */
export const nextMessageId = () => (++seq).toString(16).padStart(32, '0');

/** The fields of the body, in the order Bitrix24 sends them. */
export function smsFields(o: SmsBodyOptions = {}): Record<string, string> {
  const to = o.to ?? '+79991234567';
  const text = o.text ?? 'Hello';
  const body: Record<string, string | undefined> = { module_id: o.from ?? 'crm' };
  if (body.module_id === 'crm') {
    (o.bindings ?? [{ OWNER_TYPE_ID: '3', OWNER_ID: '42' }]).forEach((b, i) => {
      body[`bindings[${i}][OWNER_TYPE_ID]`] = b.OWNER_TYPE_ID;
      body[`bindings[${i}][OWNER_ID]`] = b.OWNER_ID;
    });
  } else {
    Object.assign(body, {
      workflow_id: '59ce38567ff2a5.26351167',
      'document_id[0]': 'crm', 'document_id[1]': 'CCrmDocumentLead', 'document_id[2]': 'LEAD_98',
      'document_type[0]': 'crm', 'document_type[1]': 'CCrmDocumentLead', 'document_type[2]': 'LEAD',
    });
  }
  Object.assign(body, {
    'properties[phone_number]': to,
    'properties[message_text]': text,
    type: 'SMS',
    code: o.code ?? 'smsgw_myshop',
    message_id: o.id ?? nextMessageId(),
    message_to: to,
    message_body: text,
    ts: String(o.ts ?? Math.floor(Date.now() / 1000)),
  });
  if (o.auth !== false && (o.portal || o.auth)) {
    const p = o.portal;
    const auth: Record<string, string | undefined> = {
      access_token: 'author-access-token',
      expires_in: '3600',
      scope: 'messageservice',
      domain: p?.domain,
      server_endpoint: 'https://oauth.bitrix.info/rest/',
      status: 'L',
      client_endpoint: p?.endpoint,
      member_id: p?.memberId,
      user_id: '1',
      application_token: p?.applicationToken,
      ...o.auth,
    };
    for (const [k, v] of Object.entries(auth)) body[`auth[${k}]`] = v;
  }
  Object.assign(body, o.fields);
  return Object.fromEntries(Object.entries(body).filter((e): e is [string, string] => e[1] !== undefined));
}

/** The body as Bitrix24 puts it on the wire (application/x-www-form-urlencoded). */
export const smsForm = (o: SmsBodyOptions = {}) => new URLSearchParams(smsFields(o)).toString();
