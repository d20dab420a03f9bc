// The one builder of what Bitrix24 posts to the handler lives with the simulated Bitrix24 (src/demo/simulated-bitrix24/).
export * from '../../src/demo/simulated-bitrix24/sms-body.js';
