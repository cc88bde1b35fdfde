// Exchange: the per-request context handed through every phase (pingora's CTX). Plain
// data; the phases in pipeline.ts and the streaming in upstream/forward.ts fill it in.
import type { RequestHead } from './downstream/contract.js';
import type { ProxyError } from './errors.js';
import type { CompiledRoute } from './runtime.js';
import type { CompiledUpstream } from './upstream/group.js';
import type { CacheRequest } from './cache/shared-cache.js';
import { firstField, joinedField } from './http/field-list.js';
import { requestIdFrom } from './filters/request-id.js';
import type { ClientIdentity, IdentityInput } from './identity/identity.js';

/** One failed try of an exchange, as the access log shows it. */
export interface UpstreamTry {
  /** The target's URL. */
  readonly upstream: string;
  /** The status it answered (a retried 5xx), or 0. */
  readonly status: number;
  /** The PC_ERR_* code of the failure, or null for a status. */
  readonly error: string | null;
  readonly ms: number;
}

export class Exchange {
  readonly head: RequestHead;
  readonly startedAt: number;
  #requestId: string | null = null;
  /**
   * Whether a peer is a trusted hop (runtime trusted_proxies), set by startExchange: the id is
   * made on first read (requestId), with the client's X-Request-Id kept only from a trusted hop.
   */
  trustedPeer: ((ip: string) => boolean) | null = null;
  /** Normalised host ('' when the client sent none) and path used for routing. */
  host = '';
  path = '';
  /** The normalised path as the client asked for it, before strip_prefix or a rewrite changes `path`. */
  normalizedPath = '';
  /**
   * Request headers to send upstream instead of head.headers, when a policy edited them
   * (policy/request-edits.ts); null: the client's, as received.
   */
  upstreamHeaders: string[] | null = null;
  /** What the route's pattern consumed and its parameters (router RouteMatch), for rewrites. */
  routePrefix = '';
  routeParams: Readonly<Record<string, string>> | null = null;
  /** Gives back what a policy holds for this exchange (an in-flight slot), once, when it ends. */
  release: (() => void) | null = null;
  /** The client's IP: the TCP peer's until identify() resolves the trusted hops, then identity.clientIp. */
  clientIp = '';
  /** Resolved once per request by the identity phase (pipeline.ts identify); null before it. */
  identity: ClientIdentity | null = null;
  identityInput: IdentityInput | null = null;
  route: CompiledRoute | null = null;
  /** The upstream group the route's split chose for this exchange (upstream/route-groups.ts chooseUpstream); null before. */
  upstreamGroup: CompiledUpstream | null = null;
  /** 'host:port' of the upstream target that served (or failed) the request. */
  upstreamAddress = '';
  status = 0;
  requestBytes = 0;
  responseBytes = 0;
  /** ms from start to the upstream response head, -1 when none arrived. */
  upstreamHeaderMs = -1;
  /** Tries sent upstream (retries and failovers included). */
  attempts = 0;
  /** The failed tries before the last one, in order; null when the first try was the last. */
  tries: UpstreamTry[] | null = null;
  error: ProxyError | null = null;
  /** True when the client went away before the response finished. */
  clientAborted = false;
  /** The cache's state for this exchange; null on routes that do not cache. */
  cache: CacheRequest | null = null;

  constructor(head: RequestHead, startedAt: number) {
    this.head = head;
    this.startedAt = startedAt;
  }

  /**
   * The exchange's X-Request-Id (filters/request-id.ts), made when first read: a cache hit that
   * is neither logged nor answered with an error never needs one. '' for an exchange that was
   * not started by startExchange and given none.
   */
  get requestId(): string {
    if (this.#requestId === null) {
      const trusted = this.trustedPeer;
      this.#requestId = trusted === null ? '' : requestIdFrom(trusted(this.head.peerIp) ? this.header('x-request-id') : undefined);
    }
    return this.#requestId;
  }

  set requestId(id: string) {
    this.#requestId = id;
  }

  /** First value of a request header (names are lowercase), or undefined. */
  header(name: string): string | undefined {
    return firstField(this.head.headers, name);
  }

  /** Every value of a list header joined with ', ' (RFC 9110 §5.3), or undefined. */
  headerList(name: string): string | undefined {
    return joinedField(this.head.headers, name);
  }
}
