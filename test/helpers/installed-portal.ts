import { startFakeBitrix24, type FakeBitrix24, type FakeOptions, type FakePortal } from '../fakes/bitrix24.js';
import { startFakeSmsRu, type FakeSmsRu } from '../fakes/smsru.js';
import type { Portal } from '../../src/portals/portal-repo.js';
import { createTestContext, type TestContext } from './app.js';
import { installPortal } from './install.js';
import { createListeningContext, type ListeningContext } from './server.js';

type ContextOptions = Omit<NonNullable<Parameters<typeof createTestContext>[0]>, 'fake' | 'smsru'>;

export interface InstalledPortalOptions extends ContextOptions {
  /** Options of the fake Bitrix24 (its limits, a delay on refreshes). */
  bitrix24?: FakeOptions;
  /** A fake SMS.ru of the fixture's own that knows these keys and balances; without it, one that takes any key. */
  smsru?: { keys: Record<string, number> };
  /** The install form's fields (installPortal's default: SMS.ru, sender MyShop). */
  install?: Record<string, string>;
  /** The app listens on 127.0.0.1 (createListeningContext), for peers that call back over HTTP. */
  listening?: boolean;
}

export interface InstalledPortal<C extends TestContext = TestContext> {
  fake: FakeBitrix24;
  /** The portal as the fake Bitrix24 sees it. */
  fp: FakePortal;
  ctx: C;
  /** The portal as the app stored it. */
  portal: Portal;
  smsru: FakeSmsRu;
  /** Stops the app (and its database), the fixture's SMS.ru and the fake Bitrix24. */
  close: () => Promise<void>;
}

/**
 * The usual start of a test: a fake Bitrix24 with one portal, the app on a fresh database, and the portal's
 * install done by an administrator through the install page.
 */
export async function installedPortal(o: InstalledPortalOptions & { listening: true }): Promise<InstalledPortal<ListeningContext>>;
export async function installedPortal(o?: InstalledPortalOptions): Promise<InstalledPortal>;
export async function installedPortal(o: InstalledPortalOptions = {}): Promise<InstalledPortal<TestContext | ListeningContext>> {
  const { bitrix24, smsru: smsruKeys, install, listening, ...contextOptions } = o;
  const fake = await startFakeBitrix24(bitrix24);
  const ownSmsRu = smsruKeys ? await startFakeSmsRu(smsruKeys) : undefined;
  const opts = { ...contextOptions, fake, smsru: ownSmsRu };
  const ctx = listening ? await createListeningContext(opts) : await createTestContext(opts);
  const close = async () => {
    await ctx.close();
    await ownSmsRu?.close();
    await fake.close();
  };
  try {
    const fp = await fake.addPortal();
    const portal = await installPortal(ctx, fake, fp, install);
    return { fake, fp, ctx, portal, smsru: ctx.smsru, close };
  } catch (err) {
    await close();
    throw err;
  }
}
