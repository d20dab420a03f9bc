/** An OAuth pair for one portal. */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
}

/** What the client needs to know about a portal it calls with stored tokens. */
export interface StoredPortal {
  memberId: string;
  restEndpoint: string;
  status: 'active' | 'inactive' | 'uninstalled';
  inactiveReason: string | null;
  lastRestCallAt: number | null;
}

/**
 * Where the Bitrix24 client keeps each portal's tokens and writes down what it learns while calling. The portals
 * table implements it (portals/portal-repo.ts): the client depends on this interface, never on the portal repo.
 */
export interface TokenStore {
  findById(portalId: number): Promise<StoredPortal | undefined>;
  tokens(portalId: number): Promise<TokenPair | undefined>;
  /** Clears the refresh lease; `restEndpoint` when the OAuth server named the portal's endpoint anew. */
  /**
   * False (nothing stored) when the portal was uninstalled meanwhile, or, with `lease` (the refresh lease's end as
   * taken), when that lease is no longer held: an uninstall, a reinstall or another process's refresh came between.
   */
  saveTokens(portalId: number, tokens: TokenPair, now: number, restEndpoint?: string, lease?: number): Promise<boolean>;
  /**
   * Refresh tokens rotate on every use, so two concurrent refreshes would break the chain: a lease shared by every
   * process, true when this caller took it.
   */
  takeRefreshLease(portalId: number, now: number, ttlMs: number): Promise<boolean>;
  /** With `lease`, only while that lease is still the portal's. */
  releaseRefreshLease(portalId: number, lease?: number): Promise<void>;
  /** The portal's tokens are useless until it is reinstalled or paid; calls are refused locally until then. */
  /**
   * False when the portal was uninstalled, or (`lease`, as saveTokens) the refresh lease is no longer held, or
   * (`refusedAccessToken`) the portal no longer holds the token Bitrix24 refused.
   */
  markInactive(portalId: number, reason: string, now: number, fence?: { lease?: number; refusedAccessToken?: string }): Promise<boolean>;
  /** A call went through; the token keeper exercises the refresh token of portals idle for long. */
  touchRestCall(portalId: number, now: number): Promise<void>;
  /** The portal answered from a new address that the OAuth server confirmed (a renamed portal). */
  moveEndpoint(portalId: number, restEndpoint: string, domain: string, now: number): Promise<void>;
}
