/**
 * Words about failures, spread into i18n.ts: a refused gateway check on the install and settings pages (by the
 * `code` the gateway adapter gives it, src/gateways/gateway.ts) and the reasons the message log shows.
 */

/** A gateway check's words by gateway and code, with the values they quote (an HTTP status, an address). */
type CheckWords = Record<string, Record<string, (...d: string[]) => string>>;

const checkEn: CheckWords = {
  kannel: {
    unreachable: (d) => `Kannel could not be reached at ${d}`,
    credentials_refused: () => 'Kannel refused the username or password',
    unavailable: (d) => `Kannel is not available (HTTP ${d})`,
    not_this_service: (d) => `This address does not answer like Kannel's sendsms service (HTTP ${d}); check the address and port`,
  },
  smsru: {
    unreachable: () => 'SMS.ru could not be reached',
    key_refused: (d) => `SMS.ru refused the key (${d})`,
    unavailable: (d) => `SMS.ru is not available (HTTP ${d})`,
  },
  smscru: {
    unreachable: () => 'SMSC.ru could not be reached',
    credentials_refused: () => 'SMSC.ru refused the login or password (or this server\'s address is not on the account\'s allowed list)',
    refused_recently: (d) => `SMSC.ru refused this login or password within the last ${d} min (or this server's address is not on the account's allowed list); the same ones are not tried again before then`,
    too_many_refusals: (n, s) => `SMSC.ru refused ${n} logins or passwords from this portal within a minute; try again in ${s} s`,
    blocked: (d) => `SMSC.ru has blocked requests from this server for a while (too many bad requests); try again in ${d} min`,
    wait_a_minute: () => 'SMSC.ru asks to wait a minute before checking again',
    refused_check: (d) => `SMSC.ru refused the check (error ${d})`,
    unavailable: (d) => `SMSC.ru is not available (HTTP ${d})`,
    not_this_service: (d) => `This address does not answer like SMSC.ru${d ? ` (HTTP ${d})` : ''}`,
  },
};

const checkRu: CheckWords = {
  kannel: {
    unreachable: (d) => `Не удалось связаться с Kannel по адресу ${d}`,
    credentials_refused: () => 'Kannel не принял имя пользователя или пароль',
    unavailable: (d) => `Kannel недоступен (HTTP ${d})`,
    not_this_service: (d) => `По этому адресу отвечает не интерфейс sendsms Kannel (HTTP ${d}); проверьте адрес и порт`,
  },
  smsru: {
    unreachable: () => 'Не удалось связаться с SMS.ru',
    key_refused: (d) => `SMS.ru не принял ключ (${d})`,
    unavailable: (d) => `SMS.ru недоступен (HTTP ${d})`,
  },
  smscru: {
    unreachable: () => 'Не удалось связаться с SMSC.ru',
    credentials_refused: () => 'SMSC.ru не принял логин или пароль (или адреса этого сервера нет в списке разрешённых для учётной записи)',
    refused_recently: (d) => `SMSC.ru не принял этот логин или пароль за последние ${d} мин (или адреса этого сервера нет в списке разрешённых для учётной записи); до тех пор они не проверяются снова`,
    too_many_refusals: (n, s) => `SMSC.ru не принял ${n} логинов или паролей от этого портала за минуту; повторите через ${s} с`,
    blocked: (d) => `SMSC.ru на время заблокировал запросы с этого сервера (слишком много ошибочных запросов); повторите через ${d} мин`,
    wait_a_minute: () => 'SMSC.ru просит подождать минуту перед следующей проверкой',
    refused_check: (d) => `SMSC.ru отклонил проверку (ошибка ${d})`,
    unavailable: (d) => `SMSC.ru недоступен (HTTP ${d})`,
    not_this_service: (d) => `По этому адресу отвечает не SMSC.ru${d ? ` (HTTP ${d})` : ''}`,
  },
};

/** A number typed on the settings page that is not one, by normalizePhone's code (src/messages/phone.ts). */
const phoneEn = {
  unreadable: 'No phone number could be read from this',
  not_valid_for: (country: string) => `Not a valid number for ${country}`,
};
const phoneRu: typeof phoneEn = {
  unreadable: 'Здесь не удалось распознать номер телефона',
  not_valid_for: (country: string) => `Недопустимый номер для страны ${country}`,
};

/**
 * The reasons this service stores for the message log are English (src/messages/phone.ts, intake.service.ts,
 * delivery/): the Russian log shows its own ones in Russian, read back by their fixed wording. Anything else (a
 * gateway's own words, quoted after our prefix or alone) is shown as stored.
 */
const knownReasonsRu: Array<[RegExp, (m: RegExpExecArray) => string]> = [
  [/^invalid phone number: no phone number could be read from it$/, () => 'неверный номер телефона: номер не удалось распознать'],
  [/^invalid phone number: not a valid number for (\S+)$/, (m) => `неверный номер телефона: недопустимый номер для страны ${m[1]}`],
  [/^text too long: (\d+) characters, more than any SMS can carry$/, (m) => `слишком длинный текст: ${m[1]} символов, больше, чем вмещает любое SMS`],
  [/^text too long: (\d+) parts, at most (\d+)$/, (m) => `слишком длинный текст: частей ${m[1]}, допустимо не больше ${m[2]}`],
  [/^text too long for this gateway: (\d+) parts, at most (\d+)$/, (m) => `слишком длинный текст для этого шлюза: частей ${m[1]}, допустимо не больше ${m[2]}`],
  [/^the service operator has disabled this portal$/, () => 'оператор сервиса отключил этот портал'],
  [/^the app was uninstalled from the portal$/, () => 'приложение удалено с портала'],
  [/^the text or the number was erased when the app was uninstalled$/, () => 'текст или номер стёрты при удалении приложения'],
  [/^no SMS gateway is configured for this portal$/, () => 'для этого портала не настроен SMS-шлюз'],
  [/^expired$/, () => 'истёк срок ожидания отчёта о доставке'],
  [/^outcome unknown: no delivery report from the gateway$/, () => 'исход неизвестен: шлюз не прислал отчёт о доставке'],
  [/^outcome unknown: the worker stopped while the request was in flight$/, () => 'исход неизвестен: обработчик остановился, пока запрос был в пути'],
  [/^an internal error kept it from being sent$/, () => 'внутренняя ошибка помешала отправке'],
  [/^the worker stopped before sending$/, () => 'обработчик остановился до отправки'],
  // What follows these openings is read again: our own words, or the gateway's kept as they are.
  [/^outcome unknown: (.*)$/s, (m) => `исход неизвестен: ${reasonRu(m[1]!)}`],
  [/^not sent: (.*)$/s, (m) => `не отправлено: ${m[1]}`], // the rest names a field of Bitrix24's call: kept
  [/^(SMS\.ru|SMSC\.ru) answered HTTP (\d+); it may have taken the message$/, (m) => `${m[1]} ответил HTTP ${m[2]}; сообщение могло быть принято`],
  [/^no answer through the proxy in front of (SMS\.ru|SMSC\.ru|Kannel) \(HTTP (\d+)\)$/, (m) => `нет ответа через прокси перед ${m[1]} (HTTP ${m[2]})`],
  [/^unreadable SMS\.ru reply \(HTTP (\d+)\)$/, (m) => `нечитаемый ответ SMS.ru (HTTP ${m[1]})`],
  [/^no answer from the SMS centre within ([\d.]+) s( \(part (\d+) of (\d+)\))?$/, (m) => `SMS-центр не ответил за ${m[1]} с${partRu(m)}`],
  [/^the connection to the SMS centre ended before it answered( \(part (\d+) of (\d+)\))?$/, (m) => `соединение с SMS-центром оборвалось до его ответа${m[1] ? ` (часть ${m[2]} из ${m[3]})` : ''}`],
  [/^Kannel is temporarily unavailable \(HTTP (\d+)\)$/, (m) => `Kannel временно недоступен (HTTP ${m[1]})`],
  [/^unexpected answer from Kannel \(HTTP (\d+)\)$/, (m) => `неожиданный ответ Kannel (HTTP ${m[1]})`],
  [/^SMSC\.ru error (\d+)$/, (m) => `ошибка SMSC.ru ${m[1]}`],
  // An SMSC.ru status with its `err`: both halves are ours (smscru.codes.ts), or the err is shown by number.
  [/^(.+?): (the subscriber does not exist|the subscriber is offline|virtual send \(SMSC\.ru test mode\)|no route|wrong number format|rejected by the spam filter|unregistered sender name|rejected by the operator|error \d+)$/, (m) => {
    const head = phrasesRu[m[1]!];
    return head ? `${head}: ${phrasesRu[m[2]!] ?? m[2]!.replace(/^error /, 'ошибка ')}` : `${m[1]}: ${m[2]}`;
  }],
  // What follows "gave up after …:" is read again: our own words, or the gateway's kept as they are.
  [/^gave up after (\d+) attempts: (.*)$/s, (m) => `отправка прекращена после ${m[1]} попыток: ${reasonRu(m[2]!)}`],
  [/^gave up after (\d+) h: (.*)$/s, (m) => `отправка прекращена через ${m[1]} ч: ${reasonRu(m[2]!)}`],
  [/^gave up after (\d+) h of retries: (.*)$/s, (m) => `отправка прекращена после ${m[1]} ч повторов: ${reasonRu(m[2]!)}`],
];

const partRu = (m: RegExpExecArray) => (m[2] ? ` (часть ${m[3]} из ${m[4]})` : '');

/**
 * Our fixed words for what a gateway said, from the code tables (src/gateways/*.codes.ts, smpp/codes.ts receipts,
 * kannel.codes.ts) and the send worker: each stored as it is, or after "outcome unknown:" / "gave up after …:".
 * SMPP command_status descriptions (ESME_R…) stay as the protocol names them; a gateway's own text stays as sent.
 */
const phrasesRu: Record<string, string> = {
  // Send worker and adapters: why the outcome is unknown.
  'an internal error while sending': 'внутренняя ошибка во время отправки',
  'the gateway gave no result for it': 'шлюз не вернул по нему результата',
  'SMS.ru returned no result for the number': 'SMS.ru не вернул результата по номеру',
  'accepted without sms_id': 'принято без sms_id',
  'unreadable SMSC.ru answer': 'нечитаемый ответ SMSC.ru',
  // Delivery receipts (SMPP) and SMSC.ru statuses.
  'not delivered: undeliverable': 'не доставлено: доставка невозможна',
  'not delivered: expired at the SMS centre': 'не доставлено: истёк срок хранения в SMS-центре',
  'not delivered: rejected': 'не доставлено: отклонено',
  'not delivered: deleted at the SMS centre': 'не доставлено: удалено в SMS-центре',
  'not delivered: lifetime expired': 'не доставлено: истёк срок жизни сообщения',
  'not delivered': 'не доставлено',
  'stopped at SMSC.ru': 'остановлено в SMSC.ru',
  'wrong number': 'неверный номер',
  forbidden: 'запрещено',
  'not enough money on the SMSC.ru account': 'недостаточно средств на счёте SMSC.ru',
  'number unavailable (no route)': 'номер недоступен (нет маршрута)',
  'the subscriber does not exist': 'абонент не существует',
  'the subscriber is offline': 'абонент не в сети',
  'virtual send (SMSC.ru test mode)': 'виртуальная отправка (тестовый режим SMSC.ru)',
  'no route': 'нет маршрута',
  'wrong number format': 'неверный формат номера',
  'rejected by the spam filter': 'отклонено спам-фильтром',
  'unregistered sender name': 'незарегистрированное имя отправителя',
  'rejected by the operator': 'отклонено оператором',
  // SMSC.ru send errors.
  'SMSC.ru refused the request as malformed (error 1)': 'SMSC.ru отклонил запрос как неверный (ошибка 1)',
  "SMSC.ru: wrong login or password (or this server's address is not on the account's allowed list)": 'SMSC.ru: неверный логин или пароль (или адреса этого сервера нет в списке разрешённых для учётной записи)',
  'SMSC.ru: not enough money on the account': 'SMSC.ru: недостаточно средств на счёте',
  'SMSC.ru has blocked requests from this server for a while (too many bad requests)': 'SMSC.ru на время заблокировал запросы с этого сервера (слишком много ошибочных запросов)',
  'SMSC.ru refused the date format (error 5)': 'SMSC.ru не принял формат даты (ошибка 5)',
  'SMSC.ru: message forbidden (by its text or sender name)': 'SMSC.ru: сообщение запрещено (по тексту или имени отправителя)',
  'SMSC.ru: wrong phone number format': 'SMSC.ru: неверный формат номера телефона',
  'SMSC.ru: the message cannot be delivered to this number': 'SMSC.ru: сообщение не может быть доставлено на этот номер',
  'SMSC.ru asks to slow down (the same send within a minute, or too many requests at once)': 'SMSC.ru просит отправлять реже (та же отправка в течение минуты или слишком много запросов сразу)',
  // Kannel's answers.
  'Kannel refused the message as invalid (HTTP 400)': 'Kannel отклонил сообщение как неверное (HTTP 400)',
  'Kannel has no route for this number (HTTP 403, "not routable")': 'у Kannel нет маршрута для этого номера (HTTP 403, "not routable")',
  'Kannel refused the username or password': 'Kannel не принял имя пользователя или пароль',
  'no Kannel sendsms service at this address (HTTP 404)': 'по этому адресу нет сервиса sendsms Kannel (HTTP 404)',
  'Kannel is overloaded (HTTP 429)': 'Kannel перегружен (HTTP 429)',
};

function reasonRu(stored: string): string {
  const phrase = phrasesRu[stored];
  if (phrase) return phrase;
  for (const [pattern, words] of knownReasonsRu) {
    const m = pattern.exec(stored);
    if (m) return words(m);
  }
  return stored;
}

export const reasonsEn = { gatewayCheck: checkEn, phone: phoneEn, logReason: (stored: string) => stored };
export const reasonsRu: typeof reasonsEn = { gatewayCheck: checkRu, phone: phoneRu, logReason: reasonRu };
