// A fault-injecting HTTP proxy for the S3 tests: it sits between a client
// and the S3 server and spoils some requests on purpose.
//
//   node tests/faultproxy.js UPSTREAM_URL PORTFILE FAULTS EVERY
//
// It listens on a free port of 127.0.0.1 (written to PORTFILE once ready)
// and forwards requests unchanged, Host header included, so signatures
// still hold.  Every EVERY-th request (counting from the first) gets the
// next fault of FAULTS, a comma-separated cycle of:
//   reset     read part of the request body, then reset the connection
//   slowdown  answer 503 SlowDown (S3's throttling) without forwarding
//   internal  answer 500 InternalError without forwarding
//   stall     read part of the request body, then neither read nor answer
//             (the client's read timeout must fire)
//   midreply  forward, then cut the answer off in the middle of its body
//   denypart2 (whatever EVERY says) answer 403 AccessDenied to part 2 of
//             every multipart upload, forward everything else
//   none      forward everything
// With FAULTPROXY_CERT and FAULTPROXY_KEY (PEM files) in the environment
// it speaks HTTPS instead of HTTP.
// Every request is logged to PORTFILE.log as "FAULT METHOD URL" (FAULT is
// "pass" for a request forwarded untouched).
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');

const [upstreamUrl, portFile, faultList, everyArg] = process.argv.slice(2);
const upstream = new URL(upstreamUrl);
const faults = (faultList || 'reset').split(',');
const every = Number(everyArg || 3);
let count = 0;
let nextFault = 0;
const log = fs.createWriteStream(portFile + '.log', { flags: 'a' });

function s3error(res, status, code, message) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + code +
    '</Code><Message>' + message + '</Message></Error>';
  res.writeHead(status, { 'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function forward(req, res, cut) {
  const up = http.request({ host: upstream.hostname, port: upstream.port,
    method: req.method, path: req.url, headers: req.headers }, (ur) => {
    if (!cut) {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
      return;
    }
    // Send the headers and half of the body, then drop the connection.
    const chunks = [];
    ur.on('data', (c) => chunks.push(c));
    ur.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(ur.statusCode, ur.headers);
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      setTimeout(() => res.socket && res.socket.destroy(), 50);
    });
  });
  up.on('error', () => res.socket && res.socket.destroy());
  req.pipe(up);
}

const tls = process.env.FAULTPROXY_CERT ? {
  cert: fs.readFileSync(process.env.FAULTPROXY_CERT),
  key: fs.readFileSync(process.env.FAULTPROXY_KEY) } : null;
const handler = (req, res) => {
  count++;
  if (faults[0] === 'denypart2') {
    const denied = /[?&]partNumber=2(&|$)/.test(req.url);
    log.write((denied ? 'denypart2 ' : 'pass ') + req.method + ' ' + req.url + '\n');
    if (!denied) {
      forward(req, res, false);
      return;
    }
    req.resume();
    req.on('end', () => s3error(res, 403, 'AccessDenied', 'Access Denied'));
    return;
  }
  if (count % every !== 0) {
    log.write('pass ' + req.method + ' ' + req.url + '\n');
    forward(req, res, false);
    return;
  }
  const fault = faults[nextFault++ % faults.length];
  log.write(fault + ' ' + req.method + ' ' + req.url + '\n');
  switch (fault) {
  case 'reset': {
    let seen = 0;
    const kill = () => req.socket.resetAndDestroy ? req.socket.resetAndDestroy() : req.socket.destroy();
    req.on('data', (c) => { seen += c.length; if (seen > 1024) kill(); });
    req.on('end', kill);
    break;
  }
  case 'slowdown':
    req.resume();
    req.on('end', () => s3error(res, 503, 'SlowDown', 'Please reduce your request rate.'));
    break;
  case 'internal':
    req.resume();
    req.on('end', () => s3error(res, 500, 'InternalError', 'We encountered an internal error. Please try again.'));
    break;
  case 'stall':
    req.once('data', () => req.pause());
    req.on('end', () => {});
    setTimeout(() => req.socket.destroy(), 60000).unref();
    break;
  case 'midreply':
    forward(req, res, true);
    break;
  default:
    forward(req, res, false);
  }
};
const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port));
  fs.renameSync(portFile + '.tmp', portFile);
});
process.on('SIGTERM', () => process.exit(0));
// Never outlive the test that started it.
const parent = process.ppid;
setInterval(() => {
  try { process.kill(parent, 0); } catch (e) { process.exit(0); }
}, 1000).unref();
