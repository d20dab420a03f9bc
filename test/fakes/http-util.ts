// The fakes' small HTTP helpers are the simulated Bitrix24's (src/demo/simulated-bitrix24/http.ts).
export * from '../../src/demo/simulated-bitrix24/http.js';
