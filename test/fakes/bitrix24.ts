/**
 * The tests' fake Bitrix24 is the simulated Bitrix24 that `npm run demo` runs (src/demo/simulated-bitrix24/): one
 * implementation, here under the names the tests use.
 */
export {
  startSimulatedBitrix24 as startFakeBitrix24,
  type SimulatedBitrix24 as FakeBitrix24,
  type SimulatedPortal as FakePortal,
  type SimulatedUser as FakeUser,
  type SimulatedOptions as FakeOptions,
  type TokenInfo,
} from '../../src/demo/simulated-bitrix24/bitrix24.js';
