// The loopback S3-compatible server of the object-store tests: s3rver (an S3 API server
// from npm; it checks access key ids but not SigV4 signatures), behind a front of our own
// that checks each request as S3 does before forwarding it unchanged: the SigV4 signature,
// recomputed with the AWS SDK's own signer (@smithy/signature-v4) for the credentials
// S3RVER/S3RVER, and the body against its x-amz-content-sha256. When told to, the front
// answers some requests with an error or late instead (fault injection).
//
//   node --openssl-legacy-provider server.js --dir DIR --port-file FILE [--bucket NAME]...
//        [--tls-key KEY.pem --tls-cert CERT.pem]   (the front speaks HTTPS: pgBackRest needs it)
//
// (s3rver makes its listing continuation tokens with DES, which OpenSSL 3 keeps in its
// legacy provider.)
//
// Writes the front's port to FILE once both listen. Faults are added with
//   POST /__faults {"method": "PUT", "pathContains": "packs/", "status": 503,
//                   "code": "SlowDown", "delayMs": 0, "count": 2}
// (every field optional but count; a fault with a delay and no status forwards late)
// and cleared with DELETE /__faults. GET /__faults reports how many matched so far.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const https = require('https');
const S3rver = require('s3rver');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Hash } = require('@smithy/hash-node');

const SECRETS = { S3RVER: 'S3RVER' };

// Decoded name/value pairs of a raw query string ('+' is a plus here, as S3 reads it).
function parseQuery(raw) {
  const query = {};
  for (const part of raw ? raw.split('&') : []) {
    const eq = part.indexOf('=');
    const name = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    query[name] = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
  }
  return query;
}

// Null when the request is signed as S3 would accept it, else [status, code, message].
async function checkSignature(req, body) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return [403, 'AccessDenied', 'the request is not signed with SigV4'];
  const [, keyId, , region, signedHeaders, signature] = m;
  if (!(keyId in SECRETS)) return [403, 'InvalidAccessKeyId', 'unknown access key id'];
  const declared = req.headers['x-amz-content-sha256'];
  if (declared !== 'UNSIGNED-PAYLOAD' &&
      declared !== crypto.createHash('sha256').update(body).digest('hex')) {
    return [400, 'XAmzContentSHA256Mismatch', 'the body does not match x-amz-content-sha256'];
  }
  const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(req.headers['x-amz-date'] || '');
  if (!d) return [403, 'AccessDenied', 'no x-amz-date'];
  const headers = {};
  for (const name of signedHeaders.split(';')) headers[name] = req.headers[name] || '';
  const qmark = req.url.indexOf('?');
  const signer = new SignatureV4({
    credentials: { accessKeyId: keyId, secretAccessKey: SECRETS[keyId] },
    region, service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false,
  });
  const signed = await signer.sign({
    method: req.method, protocol: req.socket.encrypted ? 'https:' : 'http:', hostname: headers.host,
    path: qmark < 0 ? req.url : req.url.slice(0, qmark),
    query: parseQuery(qmark < 0 ? '' : req.url.slice(qmark + 1)), headers,
  }, {
    signingDate: new Date(Date.UTC(d[1], d[2] - 1, d[3], d[4], d[5], d[6])),
    unsignableHeaders: new Set(), signableHeaders: new Set(Object.keys(headers)),
  });
  if (!signed.headers.authorization.endsWith(`Signature=${signature}`)) {
    return [403, 'SignatureDoesNotMatch', 'the AWS SDK signs this request differently'];
  }
  return null;
}

function answerError(res, status, code, message) {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code>` +
    `<Message>${message}</Message></Error>`);
}

function parseArgs(argv) {
  const args = { buckets: [] };
  for (let i = 2; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (name === '--dir') args.dir = value;
    else if (name === '--port-file') args.portFile = value;
    else if (name === '--bucket') args.buckets.push(value);
    else if (name === '--tls-key') args.tlsKey = value;
    else if (name === '--tls-cert') args.tlsCert = value;
    else throw new Error(`unknown option ${name}`);
  }
  if (!args.dir || !args.portFile) throw new Error('--dir and --port-file are required');
  return args;
}

async function main() {
  const args = parseArgs(process.argv);
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: args.dir,
    silent: true,
    configureBuckets: args.buckets.map((name) => ({ name })),
  });
  const { port: innerPort } = await s3.run();

  let faults = [];
  let injected = 0;
  let verified = 0;
  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)).catch((err) => {
      answerError(res, 500, 'InternalError', String(err));
    }));
  };
  const front = args.tlsKey
    ? https.createServer({ key: fs.readFileSync(args.tlsKey), cert: fs.readFileSync(args.tlsCert) }, onRequest)
    : http.createServer(onRequest);
  const handle = async (req, res, body) => {
    if (req.url.startsWith('/__faults')) {
      if (req.method === 'POST') faults.push(JSON.parse(body.toString()));
      if (req.method === 'DELETE') faults = [];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ injected, verified, pending: faults.filter((f) => f.count > 0).length }));
      return;
    }
    const refused = await checkSignature(req, body);
    if (refused) return answerError(res, ...refused);
    verified += 1;
    const fault = faults.find((f) => f.count > 0 &&
      (!f.method || f.method === req.method) &&
      (!f.pathContains || req.url.includes(f.pathContains)));
    const forward = () => {
      const upstream = http.request({
        host: '127.0.0.1', port: innerPort, method: req.method, path: req.url, headers: req.headers,
      }, (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    };
    if (!fault) return forward();
    fault.count -= 1;
    injected += 1;
    const delay = fault.delayMs || 0;
    if (!fault.status) return setTimeout(forward, delay);
    setTimeout(() => answerError(res, fault.status, fault.code || 'InternalError',
      'injected by the test front'), delay);
  };
  front.listen(0, '127.0.0.1', () => {
    fs.writeFileSync(`${args.portFile}.tmp`, String(front.address().port));
    fs.renameSync(`${args.portFile}.tmp`, args.portFile);
  });
  const stop = async () => { front.close(); await s3.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => { console.error(err); process.exit(1); });
