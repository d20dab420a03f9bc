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
  // What follows "gave up after …:" is read again: our own words, or the gateway's kept as they are.
  [/^gave up after (\d+) attempts: (.*)$/s, (m) => `отправка прекращена после ${m[1]} попыток: ${reasonRu(m[2]!)}`],
  [/^gave up after (\d+) h: (.*)$/s, (m) => `отправка прекращена через ${m[1]} ч: ${reasonRu(m[2]!)}`],
  [/^gave up after (\d+) h of retries: (.*)$/s, (m) => `отправка прекращена после ${m[1]} ч повторов: ${reasonRu(m[2]!)}`],
];

function reasonRu(stored: string): string {
  for (const [pattern, words] of knownReasonsRu) {
    const m = pattern.exec(stored);
    if (m) return words(m);
  }
  return stored;
}

export const reasonsEn = { gatewayCheck: checkEn, phone: phoneEn, logReason: (stored: string) => stored };
export const reasonsRu: typeof reasonsEn = { gatewayCheck: checkRu, phone: phoneRu, logReason: reasonRu };
