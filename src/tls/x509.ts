// Certificates made here rather than bought: the local CA of `tls: internal` and the leaf
// certificates it signs (tls/internal-ca.ts). ECDSA P-256 keys, SHA-256 signatures, through
// @peculiar/x509 on Node's WebCrypto (Node's crypto parses certificates but cannot make them).
import { webcrypto, randomBytes, createPrivateKey } from 'node:crypto';
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface PemPair {
  /** Certificate chain, leaf first, PEM. */
  readonly certPem: string;
  /** PKCS#8 private key, PEM. */
  readonly keyPem: string;
}

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END PRIVATE KEY-----\n`;
}

/** RFC 5280 §4.1.2.2: a positive serial of at most 20 octets; 16 random bytes, top bit clear. */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify']) as unknown as CryptoKeyPair;
}

async function importKey(keyPem: string): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, KEY_ALG, true, ['sign']) as unknown as CryptoKey;
  // The public half from the private key's JWK (x, y are in it).
  const jwk = await webcrypto.subtle.exportKey('jwk', privateKey as never);
  delete jwk.d;
  jwk.key_ops = ['verify'];
  const publicKey = await webcrypto.subtle.importKey('jwk', jwk, KEY_ALG, true, ['verify']) as unknown as CryptoKey;
  return { privateKey, publicKey };
}

/** A self-signed CA certificate (basicConstraints CA, pathLen 0: it signs leaves only). */
export async function createCa(commonName: string, notBefore: Date, notAfter: Date): Promise<PemPair> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter,
    signingAlgorithm: SIGN_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never)) };
}

export interface LeafOptions {
  /** DNS names (exact or '*.x') and IP literals, in subjectAltName. */
  readonly names: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Also valid as a TLS client certificate (extendedKeyUsage clientAuth). */
  readonly clientAuth?: boolean;
}

/** A server certificate for `names`, signed by `ca`; the chain is the leaf alone (the CA is the trust anchor). */
export async function issueLeaf(ca: PemPair, o: LeafOptions): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKeys = await importKey(ca.keyPem);
  const keys = await generateKeys();
  const dns = o.names.filter((n) => isIP(n) === 0);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${dns[0] ?? o.names[0] ?? 'portcullis'}`,
    issuer: caCert.subject,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    signingAlgorithm: SIGN_ALG,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(o.clientAuth ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(o.names.map((n) => (isIP(n) === 0 ? { type: 'dns' as const, value: n } : { type: 'ip' as const, value: n }))),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never)) };
}
