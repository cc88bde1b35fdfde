// Cache directives as pure functions (src/cache/directives.ts): Cache-Control (RFC 9111 §5.2,
// request and response directives), Structured Field Dictionaries (RFC 8941) and the targeted
// fields read with them (RFC 9213: CDN-Cache-Control, Portcullis-Cache-Control).
import { describe, expect, test } from 'vitest';
import { noDirectives, parseCacheControl, parseDictionary, parseSurrogateControl, parseTargeted, type CacheControl } from '../../src/cache/directives.js';

/** What an absent Cache-Control means: no flags, every number -1 ("absent"). */
const ABSENT: CacheControl = noDirectives();
const cc = (over: Partial<CacheControl> = {}): CacheControl => ({ ...ABSENT, ...over });

test('absent means every flag false and every number -1', () => {
  for (const [k, v] of Object.entries(ABSENT)) expect(v, k).toBe(typeof v === 'boolean' ? false : -1);
});

describe('parseCacheControl', () => {
  test.each<[string, string | undefined, Partial<CacheControl>]>([
    ['an absent header is all defaults', undefined, {}],
    ['an empty header is all defaults', '', {}],
    ['no-store', 'no-store', { noStore: true }],
    ['no-cache', 'no-cache', { noCache: true }],
    ['private', 'private', { private: true }],
    ['public', 'public', { public: true }],
    ['must-revalidate', 'must-revalidate', { mustRevalidate: true }],
    ['proxy-revalidate', 'proxy-revalidate', { proxyRevalidate: true }],
    ['no-transform', 'no-transform', { noTransform: true }],
    ['max-age', 'max-age=60', { maxAge: 60 }],
    ['s-maxage', 's-maxage=120', { sMaxage: 120 }],
    ['max-age=0 is a real zero', 'max-age=0', { maxAge: 0 }],
    ['directive names are case-insensitive', 'NO-STORE, Private, PuBlIc, No-Cache, MUST-REVALIDATE', { noStore: true, private: true, public: true, noCache: true, mustRevalidate: true }],
    ['upper-case MAX-AGE and S-MAXAGE', 'MAX-AGE=5, S-MAXAGE=7', { maxAge: 5, sMaxage: 7 }],
    ['a quoted max-age value is accepted', 'max-age="60"', { maxAge: 60 }],
    ['a quoted s-maxage value is accepted', 's-maxage="120"', { sMaxage: 120 }],
    ['whitespace around list elements is ignored', '  public ,\tmax-age=30  ,no-transform', { public: true, maxAge: 30, noTransform: true }],
    ['empty list elements are ignored', ',, public,,', { public: true }],
    ['several directives together', 'public, max-age=60, s-maxage=30, must-revalidate, proxy-revalidate', { public: true, maxAge: 60, sMaxage: 30, mustRevalidate: true, proxyRevalidate: true }],
    ['a duplicated max-age (same value) keeps it', 'max-age=60, max-age=60', { maxAge: 60 }],
    ['two max-age values: the most restrictive', 'max-age=60, max-age=3600', { maxAge: 60 }],
    ['two max-age values, smaller second: the most restrictive', 'max-age=3600, max-age=1', { maxAge: 1 }],
    ['two max-age lines (joined): the most restrictive', 'max-age=1800, max-age=1', { maxAge: 1 }],
    ['a valid max-age after an invalid one is still 0', 'max-age=abc, max-age=60', { maxAge: 0 }],
    ['two s-maxage values: the most restrictive', 's-maxage=10, s-maxage=20', { sMaxage: 10 }],
    ['a duplicate differing only in case is a duplicate', 'max-age=60, MAX-AGE=30', { maxAge: 30 }],
    ['a duplicated max-age leaves s-maxage alone', 's-maxage=30, max-age=1, max-age=2', { sMaxage: 30, maxAge: 1 }],
    ['a space before = makes the value invalid: 0', 'max-age =3600', { maxAge: 0 }],
    ['a space after = makes the value invalid: 0', 'max-age= 3600', { maxAge: 0 }],
    ['a single-quoted value is invalid: 0', "max-age='3600'", { maxAge: 0 }],
    ['leading zeros are fine', 'max-age=003600', { maxAge: 3600 }],
    ['a letter before the number is invalid: 0', 'max-age=a100', { maxAge: 0 }],
    ['a letter after the number is invalid: 0', 'max-age=100a', { maxAge: 0 }],
    ['non-numeric max-age is 0', 'max-age=abc', { maxAge: 0 }],
    ['negative max-age is 0', 'max-age=-1', { maxAge: 0 }],
    ['fractional max-age is 0', 'max-age=1.5', { maxAge: 0 }],
    ['max-age with a sign is 0', 'max-age=+60', { maxAge: 0 }],
    ['max-age without a value is 0', 'max-age', { maxAge: 0 }],
    ['max-age= with an empty value is 0', 'max-age=', { maxAge: 0 }],
    ['an unbalanced quote is invalid: 0', 'max-age="60', { maxAge: 0 }],
    ['invalid s-maxage is 0', 's-maxage=soon', { sMaxage: 0 }],
    ['a delta-seconds too large to hold is 2^31 (RFC 9111 §1.2.2)', 'max-age=99999999999999', { maxAge: 2147483648 }],
    ['exactly 2^31 is kept', 'max-age=2147483648', { maxAge: 2147483648 }],
    ['private="field" counts as private', 'private="set-cookie"', { private: true }],
    ['no-cache="field" counts as no-cache', 'no-cache="set-cookie"', { noCache: true }],
    ['qualified no-cache with a field list counts as no-cache', 'no-cache="set-cookie, x-token", max-age=60', { noCache: true, maxAge: 60 }],
    ['qualified private with a field list counts as private', 'private="set-cookie, authorization", public', { private: true, public: true }],
    ['unknown directives are ignored', 'immutable, x-ext="a b", community="UCI"', {}],
    ['stale-while-revalidate and stale-if-error (RFC 5861)', 'stale-while-revalidate=60, stale-if-error=600', { staleWhileRevalidate: 60, staleIfError: 600 }],
    ['an invalid stale-while-revalidate is 0', 'stale-while-revalidate=soon', { staleWhileRevalidate: 0 }],
    ['must-understand', 'must-understand, no-store', { mustUnderstand: true, noStore: true }],
    ['request directives: only-if-cached, min-fresh, max-stale', 'only-if-cached, min-fresh=5, max-stale=30', { onlyIfCached: true, minFresh: 5, maxStale: 30 }],
    ['max-stale without a value accepts any staleness', 'max-stale', { maxStale: 2147483648 }],
    ['max-stale with an invalid value accepts none', 'max-stale=x', { maxStale: 0 }],
    ['unknown directives do not hide known ones', 'immutable, max-age=31536000, foo=bar', { maxAge: 31536000 }],
    ['a directive that only starts like a known one is unknown', 'no-stored, publicity, max-ages=5', {}],
  ])('%s: %j', (_name, value, expected) => {
    expect(parseCacheControl(value)).toEqual(cc(expected));
  });

  test('each call returns a fresh object (callers may not corrupt the defaults)', () => {
    const a = parseCacheControl(undefined);
    a.noStore = true;
    a.maxAge = 5;
    expect(parseCacheControl(undefined)).toEqual(ABSENT);
    expect(parseCacheControl('')).toEqual(ABSENT);
  });

  // Regression: the value was split on every comma, so a comma inside a quoted
  // extension argument (RFC 9110 §5.6.4 quoted-string, RFC 9111 §5.2.3 extensions such as
  // community="UCI") cuts the list there and text inside the quotes is read as directives.
  test.each<[string, string, Partial<CacheControl>]>([
    ['public inside a quoted extension argument is not public', 'ext="a, public, b", max-age=60', { maxAge: 60 }],
    ['max-age inside a quoted extension argument is not max-age', 'ext="a, max-age=99999, b"', {}],
  ])('%s: %j', (_name, value, expected) => {
    expect(parseCacheControl(value)).toEqual(cc(expected));
  });
});

describe('parseDictionary (RFC 8941 §3.2)', () => {
  test.each<[string, string, Array<[string, string]> | null]>([
    ['a boolean member', 'no-store', [['no-store', 'bool:true']]],
    ['an integer', 'max-age=60', [['max-age', 'int:60']]],
    ['several, with OWS after commas', 'max-age=60,  public', [['max-age', 'int:60'], ['public', 'bool:true']]],
    ['a later duplicate wins', 'max-age=60, max-age=10', [['max-age', 'int:10']]],
    ['parameters are dropped', 'max-age=60;a=1;b, public;x', [['max-age', 'int:60'], ['public', 'bool:true']]],
    ['a string', 'private="set-cookie"', [['private', 'other']]],
    ['an inner list', 'no-cache=("a" "b")', [['no-cache', 'other']]],
    ['a token', 'x=abc', [['x', 'other']]],
    ['an explicit boolean', 'public=?0', [['public', 'bool:false']]],
    ['a decimal', 'x=1.5', [['x', 'other']]],
    ['an upper-case key is not a key', 'MaX-aGe=3600', null],
    ['a space before =', 'max-age =100', null],
    ['a space after =', 'max-age= 100', null],
    ['garbage', 'max-age=10000, &&&&&', null],
    ['a trailing comma', 'max-age=60,', null],
    ['an unterminated string', 'x="abc', null],
    ['an integer of 16 digits', 'max-age=1234567890123456', null],
  ])('%s: %j', (_name, value, expected) => {
    const d = parseDictionary(value);
    expect(d === null ? null : d.map(([k, v]) => [k, v.t === 'other' ? 'other' : `${v.t}:${String(v.v)}`])).toEqual(expected);
  });
});

describe('parseTargeted (RFC 9213 §2)', () => {
  test.each<[string, string | undefined, Partial<CacheControl> | null]>([
    ['absent: ignored', undefined, null],
    ['empty: ignored', '', null],
    ['max-age', 'max-age=3600', { maxAge: 3600 }],
    ['a very large max-age is 2^31', 'max-age=99999999999', { maxAge: 2147483648 }],
    ['flags', 'no-store, private, public, must-revalidate, proxy-revalidate, no-cache, must-understand', {
      noStore: true, private: true, public: true, mustRevalidate: true, proxyRevalidate: true, noCache: true, mustUnderstand: true,
    }],
    ['an unknown extension is ignored', 'foobar, max-age=3600', { maxAge: 3600 }],
    ['private with a field list is private', 'private="set-cookie"', { private: true }],
    ['stale directives', 'max-age=60, stale-while-revalidate=30, stale-if-error=600', { maxAge: 60, staleWhileRevalidate: 30, staleIfError: 600 }],
    ['s-maxage', 's-maxage=5', { sMaxage: 5 }],
    ['a string max-age is the wrong type: the field is ignored', 'max-age="10000"', null],
    ['a negative max-age: ignored', 'max-age=-1', null],
    ['a decimal max-age: ignored', 'max-age=1.5', null],
    ['an integer where a flag goes: ignored', 'no-store=1', null],
    ['not a dictionary: ignored', 'max-age=10000, &&&&&', null],
    ['upper-case keys are not a dictionary: ignored', 'MaX-aGe=3600', null],
  ])('%s: %j', (_name, value, expected) => {
    expect(parseTargeted(value)).toEqual(expected === null ? null : cc(expected));
  });
});

describe('parseSurrogateControl (W3C Edge Architecture 1.0)', () => {
  test.each<[string, string | undefined, Partial<CacheControl> | null]>([
    ['absent', undefined, null],
    ['max-age', 'max-age=3600', { maxAge: 3600 }],
    ['no-store', 'no-store', { noStore: true }],
    ['targeted at us', 'max-age=60;portcullis', { maxAge: 60 }],
    ['targeted at us, case-insensitive', 'max-age=60;Portcullis', { maxAge: 60 }],
    ['targeted at another device: ignored', 'max-age=3600;not-for-you', null],
    ['ours among others', 'max-age=5;other, max-age=60;portcullis', { maxAge: 60 }],
    ['an unknown directive alone: ignored', 'foo', null],
    ['an unknown directive beside max-age', 'content="ESI/1.0", max-age=3600', { maxAge: 3600 }],
    ['the stale extension counts as max-age', 'max-age=300+60', { maxAge: 300 }],
    ['an invalid max-age is 0', 'max-age =100', { maxAge: 0 }],
    ['only max-age and no-store are taken from it', 'max-age=60, private, public', { maxAge: 60 }],
  ])('%s: %j', (_name, value, expected) => {
    expect(parseSurrogateControl(value)).toEqual(expected === null ? null : cc(expected));
  });
});
