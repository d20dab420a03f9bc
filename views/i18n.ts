export type Lang = 'ru' | 'en';

/** Bitrix24 passes LANG (ru, en, de, ua…); Russian-speaking portals get Russian, everyone else English. */
export const pickLang = (lang: unknown): Lang => (typeof lang === 'string' && /^(ru|ua|by|kz)$/i.test(lang) ? 'ru' : 'en');

const en = {
  appTitle: 'SMS gateway',
  installTitle: 'Connect your SMS gateway',
  installIntro: 'Messages sent from CRM cards, automation rules and business processes will go through this gateway, and their delivery status will appear in the CRM card.',
  provider: 'Gateway',
  apiKey: 'API key',
  apiKeyHint: 'SMS.ru: Settings → API (api_id). Checked with SMS.ru, stored encrypted, never shown again.',
  secretSet: 'Saved (not shown). Leave empty to keep it, or enter a new one to replace it.',
  kannelUrl: 'Kannel smsbox address',
  kannelUrlHint: 'The sendsms interface of your Kannel, e.g. http://kannel.example.com:13013',
  kannelUsername: 'sendsms username',
  kannelPassword: 'sendsms password',
  balance: 'Gateway balance',
  sender: 'Sender name',
  senderHint: 'As approved by your gateway (up to 11 Latin letters or digits). Leave empty for the gateway default.',
  save: 'Save and connect',
  doneTitle: 'The SMS gateway is connected',
  doneText: 'The provider is registered in your Bitrix24. You can choose it when sending SMS from a CRM card or in automation rules.',
  errorTitle: 'Something went wrong',
  notFromBitrix: 'This page must be opened from Bitrix24: the installation data is missing or incomplete.',
  authRejected: 'Bitrix24 did not confirm this installation',
  authUnavailable: 'The Bitrix24 authorization server could not be reached. Please try again in a minute.',
  stateExpired: 'This form has expired. Please reopen the app in Bitrix24.',
  stateInvalid: 'This form could not be verified. Please reopen the app in Bitrix24.',
  fixFields: 'Please correct the highlighted fields.',
  registerFailed: 'The settings were saved, but the provider could not be registered in Bitrix24',
  providers: { smsru: 'SMS.ru', kannel: 'Kannel (own gateway)' } as Record<string, string>,
  defaultSenderName: 'SMS gateway',
};

const ru: typeof en = {
  appTitle: 'SMS-шлюз',
  installTitle: 'Подключите SMS-шлюз',
  installIntro: 'SMS из карточки CRM, роботов и бизнес-процессов будут отправляться через этот шлюз, а статус доставки появится в карточке CRM.',
  provider: 'Шлюз',
  apiKey: 'API-ключ',
  apiKeyHint: 'SMS.ru: Настройки → API (api_id). Хранится в зашифрованном виде и больше не показывается.',
  secretSet: 'Сохранён (не показывается). Оставьте пустым, чтобы не менять, или введите новый.',
  kannelUrl: 'Адрес smsbox Kannel',
  kannelUrlHint: 'Интерфейс sendsms вашего Kannel, например http://kannel.example.com:13013',
  kannelUsername: 'Имя пользователя sendsms',
  kannelPassword: 'Пароль sendsms',
  balance: 'Баланс шлюза',
  sender: 'Имя отправителя',
  senderHint: 'Как согласовано со шлюзом (до 11 латинских букв или цифр). Оставьте пустым для отправителя по умолчанию.',
  save: 'Сохранить и подключить',
  doneTitle: 'SMS-шлюз подключён',
  doneText: 'Провайдер зарегистрирован в вашем Битрикс24. Его можно выбрать при отправке SMS из карточки CRM и в роботах.',
  errorTitle: 'Что-то пошло не так',
  notFromBitrix: 'Эту страницу нужно открывать из Битрикс24: данные установки отсутствуют или неполны.',
  authRejected: 'Битрикс24 не подтвердил эту установку',
  authUnavailable: 'Сервер авторизации Битрикс24 недоступен. Повторите через минуту.',
  stateExpired: 'Срок действия формы истёк. Откройте приложение в Битрикс24 заново.',
  stateInvalid: 'Форму не удалось проверить. Откройте приложение в Битрикс24 заново.',
  fixFields: 'Исправьте отмеченные поля.',
  registerFailed: 'Настройки сохранены, но зарегистрировать провайдера в Битрикс24 не удалось',
  providers: { smsru: 'SMS.ru', kannel: 'Kannel (свой шлюз)' },
  defaultSenderName: 'SMS-шлюз',
};

export const t = (lang: Lang) => (lang === 'ru' ? ru : en);
export type Texts = typeof en;
