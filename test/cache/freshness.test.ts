// RFC 9111 as pure functions (src/cache/freshness.ts): the freshness lifetime (explicit and
// heuristic), the shared-cache store decision (every NotStored reason and the cases that store),
// HTTP-date and Age parsing, and corrected_initial_age / current_age with concrete numbers.
import { describe, expect, test } from 'vitest';
import { parseCacheControl, parseTargeted } from '../../src/cache/directives.js';
import {
  DEFAULT_STORE_POLICY, currentAge, freshnessLifetime, heuristicLifetime, initialAge, isHeuristicallyCacheable, isUnderstoodStatus,
  parseAge, parseHttpDate, storeDecision, type NotStored, type RequestFacts, type ResponseFacts, type StorePolicy,
} from '../../src/cache/freshness.js';

// A recent date, and one hour later in the three formats a recipient must accept (RFC 9110 §5.6.7).
const DATE = 'Wed, 25 Nov 2026 08:49:37 GMT';
const DATE_S = 1795596577;
const PLUS_1H = 'Wed, 25 Nov 2026 09:49:37 GMT';
const PLUS_1H_RFC850 = 'Wednesday, 25-Nov-26 09:49:37 GMT';
const PLUS_1H_ASCTIME = 'Wed Nov 25 09:49:37 2026';
const MINUS_1H = 'Wed, 25 Nov 2026 07:49:37 GMT';

/** Runs fn with the process's local time zone set to tz (Node re-reads TZ when it is assigned). */
function inTimeZone<T>(tz: string, fn: () => T): T {
  const saved = process.env['TZ'];
  process.env['TZ'] = tz;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env['TZ'];
    else process.env['TZ'] = saved;
  }
}

describe('parseHttpDate', () => {
  test.each<[string, string | undefined, number]>([
    ['IMF-fixdate', DATE, DATE_S],
    ['obsolete RFC 850 date', 'Wednesday, 25-Nov-26 08:49:37 GMT', DATE_S],
    ['obsolete asctime date (GMT by definition)', 'Wed Nov 25 08:49:37 2026', DATE_S],
  ])('%s: %j is %d', (_name, value, expected) => {
    expect(parseHttpDate(value)).toBe(expected);
  });

  test.each<[string | undefined]>([[undefined], [''], ['tomorrow'], ['Mon, 32 Jan 2030 00:00:00 GMT']])('%j is NaN', (value) => {
    expect(parseHttpDate(value)).toBeNaN();
  });

  test('the IMF-fixdate does not depend on the local time zone', () => {
    expect(inTimeZone('America/New_York', () => parseHttpDate(DATE))).toBe(DATE_S);
  });

  // Regression: Date.parse read an asctime date (which has no zone and is GMT by
  // RFC 9110 §5.6.7) in the process's local time zone: 5 h off in New York.
  test('an asctime date is GMT whatever the local time zone', () => {
    expect(inTimeZone('America/New_York', () => parseHttpDate('Wed Nov 25 08:49:37 2026'))).toBe(DATE_S);
  });

  // Regression: Date.parse accepted far more than the three HTTP-date formats: bare
  // numbers are years, ISO 8601 and free-form dates parse. RFC 9111 §5.3 wants an invalid
  // Expires (above all "0") read as "already expired"; here it gets a date.
  test.each<[string]>([['0'], ['-1'], ['2100'], ['99999'], ['2100-01-01T00:00:00Z'], ['1 2 3']])(
    '%j is not an HTTP-date: NaN', (value) => {
      expect(parseHttpDate(value)).toBeNaN();
    });
});

describe('status codes', () => {
  const HEURISTIC = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];
  test.each(HEURISTIC)('%d is heuristically cacheable (RFC 9110 §15.1)', (status) => expect(isHeuristicallyCacheable(status)).toBe(true));
  test.each([100, 101, 201, 202, 205, 206, 302, 303, 304, 307, 400, 401, 403, 409, 429, 500, 502, 503, 504, 599])(
    '%d is not heuristically cacheable', (status) => expect(isHeuristicallyCacheable(status)).toBe(false));
  test.each([200, 201, 204, 206, 302, 303, 307, 400, 404, 410, 500, 502, 503, 504])('%d is understood (must-understand)', (status) => expect(isUnderstoodStatus(status)).toBe(true));
  test.each([299, 418, 429, 499, 599, 103])('%d is not understood', (status) => expect(isUnderstoodStatus(status)).toBe(false));
});

describe('parseHttpDate leniency (RFC 9110 §5.6.7: recipients accept what senders get wrong)', () => {
  test.each<[string, string]>([
    ['lower-case weekday and month', 'wed, 25 nov 2026 08:49:37 GMT'],
    ['lower-case gmt', 'Wed, 25 Nov 2026 08:49:37 gmt'],
    ['upper-case everything', 'WED, 25 NOV 2026 08:49:37 GMT'],
    ['RFC 850, lower case', 'wednesday, 25-nov-26 08:49:37 gmt'],
    ['asctime, lower case', 'wed nov 25 08:49:37 2026'],
  ])('%s: %j', (_name, value) => {
    expect(parseHttpDate(value)).toBe(DATE_S);
  });
  test('a month name that only starts like one is still invalid', () => {
    expect(parseHttpDate('Wed, 25 Novem 2026 08:49:37 GMT')).toBeNaN();
  });
});

describe('parseAge (RFC 9111 §5.1)', () => {
  test.each<[string, string | undefined, number]>([
    ['absent', undefined, 0],
    ['a number', '60', 60],
    ['surrounding whitespace', ' 60 ', 60],
    ['leading zeros', '0060', 60],
    ['a list: the first member', '7200, 0', 7200],
    ['a list: the first member, even when 0', '0, 7200', 0],
    ['two lines (joined): the first', '3600, 3600', 3600],
    ['a parameter is dropped', '7200;foo=bar', 7200],
    ['a numeric parameter is dropped', '7200;foo=111', 7200],
    ['not a number: ignored', 'abc', 0],
    ['negative: ignored', '-7200', 0],
    ['fractional: ignored', '7200.0', 0],
    ['too large to hold: 2^31', '99999999999999', 2147483648],
  ])('%s: %j is %d', (_name, value, expected) => {
    expect(parseAge(value)).toBe(expected);
  });
});

// ---- freshness lifetime ----------------------------------------------------------------------------------

function res(over: Partial<ResponseFacts> & { cc?: string; targetedCc?: string } = {}): ResponseFacts {
  const { cc: ccValue, targetedCc, ...rest } = over;
  const targeted = targetedCc === undefined ? null : parseTargeted(targetedCc);
  return {
    status: 200,
    cacheControl: targeted ?? parseCacheControl(ccValue),
    targeted: targeted !== null,
    expires: undefined,
    date: undefined,
    vary: undefined,
    setCookie: false,
    pragmaNoCache: false,
    hasValidator: false,
    ...rest,
  };
}

describe('freshnessLifetime', () => {
  test.each<[string, Partial<ResponseFacts> & { cc?: string }, number]>([
    ['nothing explicit: -1', {}, -1],
    ['max-age', { cc: 'max-age=60' }, 60],
    ['s-maxage wins over max-age', { cc: 'max-age=60, s-maxage=10' }, 10],
    ['s-maxage wins over max-age whatever the order', { cc: 's-maxage=10, max-age=60' }, 10],
    ['s-maxage=0 wins over a positive max-age', { cc: 's-maxage=0, max-age=600' }, 0],
    ['s-maxage wins over Expires', { cc: 's-maxage=10', expires: PLUS_1H, date: DATE }, 10],
    ['max-age wins over Expires', { cc: 'max-age=20', expires: PLUS_1H, date: DATE }, 20],
    ['max-age=0 wins over a future Expires', { cc: 'max-age=0', expires: PLUS_1H, date: DATE }, 0],
    ['an invalid max-age is 0 and still wins over Expires', { cc: 'max-age=soon', expires: PLUS_1H, date: DATE }, 0],
    ['Expires − Date', { expires: PLUS_1H, date: DATE }, 3600],
    ['Expires as an RFC 850 date', { expires: PLUS_1H_RFC850, date: DATE }, 3600],
    ['Expires as an asctime date', { expires: PLUS_1H_ASCTIME, date: DATE }, 3600],
    ['Expires equal to Date: 0', { expires: DATE, date: DATE }, 0],
    ['Expires before Date: 0, never negative', { expires: MINUS_1H, date: DATE }, 0],
    ['Expires: 0 means already expired', { expires: '0', date: DATE }, 0],
    ['Expires: -1 means already expired', { expires: '-1', date: DATE }, 0],
    ['an unparsable Expires means already expired', { expires: 'never', date: DATE }, 0],
    ['an empty Expires means already expired', { expires: '', date: DATE }, 0],
    ['two Expires values (joined) mean already expired', { expires: `${PLUS_1H}, ${PLUS_1H}`, date: DATE }, 0],
    ['Expires with an unparsable Date: 0', { expires: PLUS_1H, date: 'yesterday' }, 0],
    // RFC 9110 §6.6.1: a Date-less response is dated at its receipt; without that time, expired.
    ['Expires without Date and no receipt time counts as expired', { expires: PLUS_1H }, 0],
    ['Expires without Date: dated at its receipt', { expires: PLUS_1H, receivedAt: DATE_S }, 3600],
    ['public alone grants nothing', { cc: 'public' }, -1],
    ['must-revalidate alone grants nothing', { cc: 'must-revalidate' }, -1],
  ])('%s', (_name, facts, expected) => {
    // In UTC, so that the asctime row does not depend on the machine (see the bug below).
    expect(inTimeZone('UTC', () => freshnessLifetime(res(facts)))).toBe(expected);
  });

  // Regression: the asctime Expires was read in local time: 1 h becomes 6 h in New York.
  test('an asctime Expires one hour after Date grants 3600 s whatever the local time zone', () => {
    expect(inTimeZone('America/New_York', () => freshnessLifetime(res({ expires: PLUS_1H_ASCTIME, date: DATE })))).toBe(3600);
  });

  // Regression: parseHttpDate was Date.parse, which read bare numbers as years and
  // accepts ISO dates. RFC 9111 §5.3: an invalid Expires (not an HTTP-date) means "already
  // expired"; these give decades of freshness instead.
  test.each<[string, string]>([
    ['a bare year', '2100'],
    ['a bare five-digit number', '99999'],
    ['an ISO 8601 date', '2100-01-01T00:00:00Z'],
  ])('an Expires that is not an HTTP-date (%s, %j) means already expired', (_name, expires) => {
    expect(freshnessLifetime(res({ expires, date: DATE }))).toBe(0);
  });
});

// ---- store decision ----------------------------------------------------------------------------------------

function req(over: Partial<Omit<RequestFacts, 'cacheControl'>> & { cc?: string } = {}): RequestFacts {
  const { cc: ccValue, ...rest } = over;
  return { method: 'GET', authorization: false, cookie: false, cacheControl: parseCacheControl(ccValue), ...rest };
}

type Row = [name: string, request: Parameters<typeof req>[0], response: Parameters<typeof res>[0], expected: number | NotStored];

/** The decision as a lifetime or the reason: what the rows compare. */
function decided(rq: RequestFacts, rs: ResponseFacts, policy: StorePolicy = DEFAULT_STORE_POLICY): number | NotStored {
  const d = storeDecision(rq, rs, policy);
  return typeof d === 'string' ? d : d.lifetime;
}

describe('storeDecision', () => {
  const notStored: Row[] = [
    ['POST is not stored', { method: 'POST' }, { cc: 'public, max-age=60' }, 'method'],
    ['HEAD is not stored (no body to keep)', { method: 'HEAD' }, { cc: 'max-age=60' }, 'method'],
    ['lower-case get is not GET', { method: 'get' }, { cc: 'max-age=60' }, 'method'],
    ['method is checked before status', { method: 'PUT' }, { status: 500, cc: 'max-age=60' }, 'method'],
    ['206 is not stored (a part, not the representation)', {}, { status: 206, cc: 'max-age=60' }, 'status'],
    ['304 is not stored (an update, not a response)', {}, { status: 304, cc: 'max-age=60' }, 'status'],
    ['a 1xx is never stored', {}, { status: 103, cc: 'max-age=60' }, 'status'],
    ['a status above 599 is never stored', {}, { status: 600, cc: 'max-age=60' }, 'status'],
    ['must-understand with a status we do not understand', {}, { status: 599, cc: 'max-age=60, must-understand' }, 'must-understand'],
    ['must-understand with an unknown status, even with no-store', {}, { status: 299, cc: 'max-age=60, must-understand, no-store' }, 'must-understand'],
    ['an unknown status without explicit freshness', {}, { status: 599, lastModified: MINUS_1H, date: DATE }, 'no-freshness'],
    ['500 without explicit freshness (not heuristically cacheable)', {}, { status: 500, lastModified: MINUS_1H, date: DATE }, 'no-freshness'],
    ['201 with Last-Modified only (not heuristically cacheable)', {}, { status: 201, lastModified: MINUS_1H, date: DATE }, 'no-freshness'],
    ['a targeted no-store wins over Cache-Control max-age', {}, { targetedCc: 'no-store', cc: 'max-age=60' }, 'no-store'],
    ['a targeted private wins over Cache-Control', {}, { targetedCc: 'private', cc: 'max-age=60' }, 'private'],
    ['a targeted max-age=0 ignores a future Expires', {}, { targetedCc: 'max-age=0', expires: PLUS_1H, date: DATE }, 'no-freshness'],
    ['response no-store', {}, { cc: 'no-store, max-age=60' }, 'no-store'],
    ['response no-store beats public', {}, { cc: 'public, s-maxage=60, no-store' }, 'no-store'],
    ['request no-store (RFC 9111 §5.2.1.5)', { cc: 'no-store' }, { cc: 'public, max-age=60' }, 'no-store'],
    ['private', {}, { cc: 'private, max-age=60' }, 'private'],
    ['private beats public and s-maxage', {}, { cc: 'public, s-maxage=60, private' }, 'private'],
    ['qualified private="set-cookie" is private', {}, { cc: 'private="set-cookie", max-age=60' }, 'private'],
    ['Set-Cookie', {}, { cc: 'public, max-age=60', setCookie: true }, 'set-cookie'],
    ['Vary: *', {}, { cc: 'max-age=60', vary: '*' }, 'vary-star'],
    ['Vary with * among names', {}, { cc: 'max-age=60', vary: 'accept-encoding, *' }, 'vary-star'],
    ['Vary: * with whitespace', {}, { cc: 'max-age=60', vary: ' * ' }, 'vary-star'],
    // Request headers the proxy writes itself: the client's value is not the one the upstream saw.
    ...['X-Forwarded-For', 'X-Forwarded-Host', 'X-Forwarded-Proto', 'Forwarded', 'X-Real-IP', 'Via', 'X-Request-Id'].map((name): Row =>
      [`Vary: ${name} (rewritten by the proxy)`, {}, { cc: 'public, max-age=60', vary: `Accept-Encoding, ${name}` }, 'vary-rewritten']),
    ['Authorization with plain max-age', { authorization: true }, { cc: 'max-age=60' }, 'authorization'],
    ['Authorization with proxy-revalidate only', { authorization: true }, { cc: 'max-age=60, proxy-revalidate' }, 'authorization'],
    ['Authorization with must-revalidate only (the default: not without public or s-maxage)', { authorization: true }, { cc: 'max-age=60, must-revalidate' }, 'authorization'],
    ['Authorization with Expires only', { authorization: true }, { expires: PLUS_1H, date: DATE }, 'authorization'],
    ['Authorization is checked before Cookie', { authorization: true, cookie: true }, { cc: 'max-age=60' }, 'authorization'],
    ['Cookie with plain max-age', { cookie: true }, { cc: 'max-age=60' }, 'cookie'],
    ['Cookie with must-revalidate (enough for Authorization, not for Cookie)', { cookie: true }, { cc: 'max-age=60, must-revalidate' }, 'cookie'],
    ['Authorization + Cookie with must-revalidate', { authorization: true, cookie: true }, { cc: 'max-age=60, must-revalidate' }, 'authorization'],
    ['no explicit freshness', {}, {}, 'no-freshness'],
    ['a validator alone is no freshness', {}, { hasValidator: true }, 'no-freshness'],
    ['public alone is no freshness', {}, { cc: 'public' }, 'no-freshness'],
    ['no-cache without a validator', {}, { cc: 'no-cache, max-age=60' }, 'no-freshness'],
    ['qualified no-cache without a validator', {}, { cc: 'no-cache="set-cookie", max-age=60' }, 'no-freshness'],
    ['Pragma: no-cache without Cache-Control and without a validator', {}, { pragmaNoCache: true, expires: PLUS_1H, date: DATE }, 'no-freshness'],
    ['max-age=0 without a validator', {}, { cc: 'max-age=0' }, 'no-freshness'],
    ['an invalid max-age without a validator', {}, { cc: 'max-age=never' }, 'no-freshness'],
    ['two max-age values, one of them 0, without a validator', {}, { cc: 'max-age=60, max-age=0' }, 'no-freshness'],
    ['an expired Expires without a validator', {}, { expires: MINUS_1H, date: DATE }, 'no-freshness'],
    ['Expires: 0 without a validator', {}, { expires: '0', date: DATE }, 'no-freshness'],
  ];
  test.each(notStored)('not stored: %s', (_name, rq, rs, expected) => {
    expect(decided(req(rq), res(rs))).toBe(expected);
  });

  test('storeDecision never answers too-large (that is CacheFill, by max_entry_bytes)', () => {
    // Bodies are not known here: a huge lifetime, Content-Length or anything else is not "too large".
    expect(decided(req(), res({ cc: 'max-age=2147483648' }))).toBe(2147483648);
  });

  const stored: Row[] = [
    ['plain max-age', {}, { cc: 'max-age=60' }, 60],
    ['s-maxage over max-age', {}, { cc: 'max-age=60, s-maxage=30' }, 30],
    ['Expires − Date', {}, { expires: PLUS_1H, date: DATE }, 3600],
    ['Authorization with public', { authorization: true }, { cc: 'public, max-age=60' }, 60],
    ['Authorization with s-maxage', { authorization: true }, { cc: 's-maxage=45' }, 45],
    ['Authorization with public and Expires', { authorization: true }, { cc: 'public', expires: PLUS_1H, date: DATE }, 3600],
    ['Cookie with public', { cookie: true }, { cc: 'public, max-age=60' }, 60],
    ['Cookie with s-maxage', { cookie: true }, { cc: 's-maxage=60' }, 60],
    ['Authorization + Cookie with public', { authorization: true, cookie: true }, { cc: 'public, max-age=60' }, 60],
    ['no-cache with a validator: stored, revalidated before each use', {}, { cc: 'no-cache', hasValidator: true }, 0],
    ['no-cache with max-age and a validator is still 0', {}, { cc: 'no-cache, max-age=600', hasValidator: true }, 0],
    ['qualified no-cache with a validator is 0', {}, { cc: 'no-cache="set-cookie", max-age=600', hasValidator: true }, 0],
    ['Pragma: no-cache without Cache-Control, with a validator', {}, { pragmaNoCache: true, hasValidator: true }, 0],
    ['Pragma: no-cache with a validator wins over Expires', {}, { pragmaNoCache: true, hasValidator: true, expires: PLUS_1H, date: DATE }, 0],
    ['Pragma: no-cache is ignored when Cache-Control has max-age', {}, { pragmaNoCache: true, cc: 'max-age=60' }, 60],
    ['Pragma: no-cache is ignored when Cache-Control has s-maxage', {}, { pragmaNoCache: true, cc: 's-maxage=60' }, 60],
    ['max-age=0 with a validator: stored, always revalidated', {}, { cc: 'max-age=0', hasValidator: true }, 0],
    ['an expired Expires with a validator', {}, { expires: MINUS_1H, date: DATE, hasValidator: true }, 0],
    ['a Vary without * is stored', {}, { cc: 'max-age=60', vary: 'Accept-Encoding, Accept-Language' }, 60],
    ['a request no-cache does not stop storing', { cc: 'no-cache' }, { cc: 'max-age=60' }, 60],
    ['a request max-age=0 does not stop storing', { cc: 'max-age=0' }, { cc: 'max-age=60' }, 60],
    ['proxy-revalidate and no-transform do not stop storing', {}, { cc: 'max-age=60, proxy-revalidate, no-transform' }, 60],
    ['any final status with explicit freshness: 302', {}, { status: 302, cc: 'max-age=60' }, 60],
    ['any final status with explicit freshness: 500', {}, { status: 500, cc: 'max-age=60' }, 60],
    ['any final status with explicit freshness: 201', {}, { status: 201, cc: 'max-age=60' }, 60],
    ['any final status with explicit freshness: 599 (Expires)', {}, { status: 599, expires: PLUS_1H, date: DATE }, 3600],
    ['must-understand with a known status overrides no-store (RFC 9111 §5.2.2.3)', {}, { status: 200, cc: 'max-age=60, must-understand, no-store' }, 60],
    ['a request no-store still wins over must-understand', { cc: 'no-store' }, { status: 200, cc: 'max-age=60, must-understand' }, 'no-store'],
    ['heuristic: 10% of the time since Last-Modified', {}, { lastModified: MINUS_1H, date: DATE, hasValidator: true }, 360],
    ['heuristic: a 404 with Last-Modified', {}, { status: 404, lastModified: MINUS_1H, date: DATE, hasValidator: true }, 360],
    ['heuristic: any status marked public', {}, { status: 599, cc: 'public', lastModified: MINUS_1H, date: DATE, hasValidator: true }, 360],
    ['heuristic: a Last-Modified after Date is 0 (stored, revalidated on use)', {}, { lastModified: PLUS_1H, date: DATE, hasValidator: true }, 0],
    ['heuristic: dated at receipt without Date', {}, { lastModified: MINUS_1H, receivedAt: DATE_S, hasValidator: true }, 360],
    ['a targeted max-age wins over a shorter Cache-Control', {}, { targetedCc: 'max-age=3600', cc: 'max-age=1' }, 3600],
    ['a targeted max-age wins over Cache-Control no-store', {}, { targetedCc: 'max-age=600', cc: 'no-store' }, 600],
    ['a targeted max-age ignores a past Expires', {}, { targetedCc: 'max-age=60', expires: MINUS_1H, date: DATE }, 60],
  ];
  test.each(stored)('stored: %s', (_name, rq, rs, expected) => {
    expect(decided(req(rq), res(rs))).toBe(expected);
  });

  test.each([200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 404, 405, 410, 414, 500, 501, 502, 503, 504, 599])('status %d with max-age=60 is stored for 60 s', (status) => {
    expect(decided(req(), res({ status, cc: 'max-age=60' }))).toBe(60);
  });

  test('a route may opt in to storing answers to Authorization requests marked only must-revalidate (RFC 9111 §3.5)', () => {
    const policy = { ...DEFAULT_STORE_POLICY, authorizationMustRevalidate: true };
    expect(decided(req({ authorization: true }), res({ cc: 'max-age=60, must-revalidate' }), policy)).toBe(60);
    expect(decided(req({ authorization: true }), res({ cc: 'max-age=60' }), policy)).toBe('authorization');
    expect(decided(req({ authorization: true }), res({ cc: 'max-age=60, proxy-revalidate' }), policy)).toBe('authorization');
  });

  test('the heuristic lifetime is flagged as heuristic; explicit ones are not', () => {
    expect(storeDecision(req(), res({ lastModified: MINUS_1H, date: DATE, hasValidator: true }))).toEqual({ lifetime: 360, heuristic: true });
    expect(storeDecision(req(), res({ cc: 'max-age=60' }))).toEqual({ lifetime: 60, heuristic: false });
  });
});

describe('heuristicLifetime (RFC 9111 §4.2.2)', () => {
  const LM_10D = 'Sun, 15 Nov 2026 08:49:37 GMT'; // ten days before DATE
  const policy = (fraction: number, max: number): StorePolicy => ({ ...DEFAULT_STORE_POLICY, heuristicFraction: fraction, heuristicMax: max });
  test.each<[string, StorePolicy, Partial<ResponseFacts> & { cc?: string }, number]>([
    ['10% of ten days, under the 24 h cap', policy(0.1, 86400), { lastModified: LM_10D, date: DATE }, 86400],
    ['10% of ten days with a 1 h cap', policy(0.1, 3600), { lastModified: LM_10D, date: DATE }, 3600],
    ['1% of ten days', policy(0.01, 86400), { lastModified: LM_10D, date: DATE }, 8640],
    ['fraction 0 turns it off', policy(0, 86400), { lastModified: LM_10D, date: DATE }, -1],
    ['no Last-Modified: none', policy(0.1, 86400), { date: DATE }, -1],
    ['an invalid Last-Modified: none', policy(0.1, 86400), { lastModified: 'yesterday', date: DATE }, -1],
    ['a 302 (not heuristically cacheable): none', policy(0.1, 86400), { status: 302, lastModified: LM_10D, date: DATE }, -1],
    ['a 302 marked public: allowed', policy(0.1, 86400), { status: 302, cc: 'public', lastModified: LM_10D, date: DATE }, 86400],
  ])('%s', (_name, p, facts, expected) => {
    expect(heuristicLifetime(res(facts), p)).toBe(expected);
  });
});

// ---- age ----------------------------------------------------------------------------------------------------

describe('initialAge (corrected_initial_age, RFC 9111 §4.2.3)', () => {
  const T0 = 1_700_000_000_000; // request sent (ms)
  const at = (ms: number): string => new Date(ms).toUTCString();
  test.each<[string, string | undefined, string | undefined, number, number, number]>([
    // name, Age, Date, request_time, response_time, expected seconds
    ['no Age, no Date: the response delay', undefined, undefined, T0, T0 + 2000, 2],
    ['no Age, no Date, instant answer: 0', undefined, undefined, T0, T0, 0],
    ['apparent age (response_time − date) wins when larger', undefined, at(T0 - 8000), T0, T0 + 2000, 10],
    ['Age + response delay wins when larger', '100', at(T0 + 2000), T0, T0 + 2000, 102],
    ['Age + delay against a larger apparent age', '3', at(T0 - 60_000), T0, T0 + 2000, 62],
    ['a Date in the future (clock skew) gives apparent age 0', undefined, at(T0 + 3_600_000), T0, T0 + 2000, 2],
    ['Age with surrounding whitespace', ' 7 ', undefined, T0, T0 + 2000, 9],
    ['an invalid Age counts as 0', 'abc', undefined, T0, T0 + 2000, 2],
    ['a negative Age counts as 0', '-50', undefined, T0, T0 + 2000, 2],
    ['a fractional Age counts as 0', '1.5', undefined, T0, T0 + 1000, 1],
    ['two Age values (joined): the first counts (RFC 9111 §5.1)', '5, 10', undefined, T0, T0 + 1000, 6],
    ['an Age with a parameter: its number counts', '5;x=1', undefined, T0, T0 + 1000, 6],
    ['a response delay of 1.4 s rounds to 1', '10', undefined, T0, T0 + 1400, 11],
    ['a response delay of 1.6 s rounds to 2', '10', undefined, T0, T0 + 1600, 12],
    ['a response_time before request_time gives delay 0', '10', undefined, T0, T0 - 5000, 10],
    ['an unparsable Date is ignored', '4', 'not a date', T0, T0 + 1000, 5],
    ['a sub-second apparent age and response delay count as 0', undefined, at(T0), T0 + 500, T0 + 999, 0],
  ])('%s', (_name, age, date, requestTime, responseTime, expected) => {
    expect(initialAge(age, date, requestTime, responseTime)).toBe(expected);
  });

  // Regression: Date: 0 parsed as 2000-01-01, an apparent age of decades: the entry
  // is stored already stale. An invalid Date should count as absent (apparent age 0).
  test('a Date that is not an HTTP-date ("0") is ignored, not read as the year 2000', () => {
    expect(initialAge(undefined, '0', T0, T0 + 2000)).toBe(2);
  });
});

describe('currentAge (RFC 9111 §4.2.3)', () => {
  const R = 1_700_000_000_000;
  test.each<[string, number, number, number]>([
    ['just stored: the initial age', 12, R, 12],
    ['resident 5.5 s: 5 whole seconds added', 10, R + 5500, 15],
    ['resident 999 ms: nothing added yet', 10, R + 999, 10],
    ['resident exactly 1 s', 0, R + 1000, 1],
    ['resident one day', 30, R + 86_400_000, 86_430],
    ['a clock that went backwards adds nothing', 10, R - 60_000, 10],
  ])('%s', (_name, initial, now, expected) => {
    expect(currentAge(initial, R, now)).toBe(expected);
  });

  test('an entry stored with max-age=60 and Age: 50 is fresh for 10 more seconds, then stale', () => {
    const t0 = 1_700_000_000_000;
    const initial = initialAge('50', undefined, t0, t0);
    const lifetime = decided(req(), res({ cc: 'max-age=60' }));
    expect(lifetime).toBe(60);
    expect((lifetime as number) - currentAge(initial, t0, t0 + 9_000)).toBe(1);
    expect((lifetime as number) - currentAge(initial, t0, t0 + 10_000)).toBe(0);
  });
});
