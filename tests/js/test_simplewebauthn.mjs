// `fidosim webauthn create|get` judged by @simplewebauthn/server, an
// independent RP library: its generators make the options, fidosim's
// response JSON is verified as a Node.js server would verify it.
//
// Run: node tests/js/test_simplewebauthn.mjs (after `npm ci` in tests/js).
// FIDOSIM_BIN names the binary (relative: to the cwd, else to the repo
// root); the default is <repo>/target/debug/fidosim. One line per passed
// check, a closing "N passed, N failed" line, exit status 1 on any failure.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { cose, decodeCredentialPublicKey, isoBase64URL } from '@simplewebauthn/server/helpers';

const ORIGIN = 'https://shop.example';
const RP_ID = 'shop.example';
const EVIL_ORIGIN = 'https://evil.example';
const ALGS = [
  { name: 'ES256', id: -7 },
  { name: 'EdDSA', id: -8 },
];
const RESIDENT_KEY = ['required', 'preferred', 'discouraged'];
const ATTESTATION = [
  { type: 'direct', fmt: 'packed' },
  { type: 'none', fmt: 'none' },
];

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function fidosimBin() {
  const env = process.env.FIDOSIM_BIN;
  if (!env) return join(REPO_ROOT, 'target', 'debug', 'fidosim');
  if (isAbsolute(env) || existsSync(env)) return resolve(env);
  return join(REPO_ROOT, env);
}

class CheckFailed extends Error {}

function check(cond, message) {
  if (!cond) throw new CheckFailed(message);
}

// Runs `fidosim webauthn <verb> ...args` with `options` on standard input;
// returns the parsed response JSON.
function fidosim(verb, args, options) {
  const out = spawnSync(BIN, ['webauthn', verb, ...args], {
    input: JSON.stringify(options),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (out.error) throw new CheckFailed(`fidosim webauthn ${verb}: ${out.error.message}`);
  check(
    out.status === 0,
    `fidosim webauthn ${verb} ${args.join(' ')} exited ${out.status ?? out.signal}: ${out.stderr.trim()}`,
  );
  try {
    return JSON.parse(out.stdout);
  } catch (e) {
    throw new CheckFailed(`fidosim webauthn ${verb} printed no JSON (${e.message}): ${out.stdout}`);
  }
}

// The algorithm in a COSE public key (label 3).
function coseAlg(publicKey) {
  return decodeCredentialPublicKey(publicKey).get(cose.COSEKEYS.alg);
}

let passed = 0;
let failed = 0;

function pass(line) {
  passed += 1;
  console.log(`ok ${passed} - ${line}`);
}

// One registration, two sign-ins and a refused response from another
// origin, on a fresh state file. A failed step ends the ceremony.
async function ceremony(dir, alg, residentKey, attestation) {
  const label = `${alg.name} residentKey=${residentKey} attestation=${attestation.type}`;
  const state = join(dir, `${alg.name}-${residentKey}-${attestation.type}.redb`);
  const where = ['--origin', ORIGIN, '--state', state];

  // Registration.
  const regOptions = await generateRegistrationOptions({
    rpName: 'Shop',
    rpID: RP_ID,
    userName: 'alice',
    userDisplayName: 'Alice',
    attestationType: attestation.type,
    authenticatorSelection: { residentKey, userVerification: 'required' },
    supportedAlgorithmIDs: [alg.id],
  });
  const reg = fidosim('create', where, regOptions);
  const verified = await verifyRegistrationResponse({
    response: reg,
    expectedChallenge: regOptions.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    requireUserVerification: true,
    supportedAlgorithmIDs: [alg.id],
  });
  check(verified.verified, `${label}: verifyRegistrationResponse returned verified: false`);
  const info = verified.registrationInfo;
  check(info.fmt === attestation.fmt, `${label}: attestation format ${info.fmt}, expected ${attestation.fmt}`);
  check(info.userVerified, `${label}: registration without UV`);
  check(info.credential.id === reg.id, `${label}: credential ID ${info.credential.id} is not the response's ${reg.id}`);
  const keyAlg = coseAlg(info.credential.publicKey);
  check(keyAlg === alg.id, `${label}: credential public key has alg ${keyAlg}, expected ${alg.id}`);
  check(
    reg.response.publicKeyAlgorithm === alg.id,
    `${label}: response.publicKeyAlgorithm ${reg.response.publicKeyAlgorithm}, expected ${alg.id}`,
  );
  const rk = reg.clientExtensionResults?.credProps?.rk;
  if (residentKey === 'required') check(rk === true, `${label}: credProps.rk is ${rk}, expected true`);
  if (residentKey === 'discouraged') check(rk === false, `${label}: credProps.rk is ${rk}, expected false`);
  pass(`${label}: registration verified (fmt ${info.fmt}, counter ${info.credential.counter}, credProps.rk ${rk})`);

  // Two sign-ins: username-less for a discoverable credential (the user
  // handle must come back), with allowCredentials otherwise.
  const credential = { ...info.credential };
  for (let i = 1; i <= 2; i += 1) {
    const authOptions = await generateAuthenticationOptions({
      rpID: RP_ID,
      allowCredentials: rk ? [] : [{ id: credential.id }],
      userVerification: 'required',
    });
    const auth = fidosim('get', where, authOptions);
    check(auth.id === credential.id, `${label}: sign-in ${i} used credential ${auth.id}, expected ${credential.id}`);
    if (rk) {
      check(
        auth.response.userHandle === regOptions.user.id,
        `${label}: sign-in ${i} userHandle ${auth.response.userHandle}, expected ${regOptions.user.id}`,
      );
    }
    const result = await verifyAuthenticationResponse({
      response: auth,
      expectedChallenge: authOptions.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      credential,
      requireUserVerification: true,
    });
    check(result.verified, `${label}: sign-in ${i}: verifyAuthenticationResponse returned verified: false`);
    const { newCounter, userVerified } = result.authenticationInfo;
    check(userVerified, `${label}: sign-in ${i} without UV`);
    check(
      newCounter > credential.counter,
      `${label}: sign-in ${i} counter ${newCounter} did not rise above ${credential.counter}`,
    );
    pass(`${label}: sign-in ${i} verified (${rk ? 'discoverable' : 'allowCredentials'}, counter ${credential.counter} -> ${newCounter})`);
    credential.counter = newCounter;
  }

  // A response made for another origin (an RP ID that origin may not use,
  // which a browser would refuse) must be rejected by the RP.
  const authOptions = await generateAuthenticationOptions({
    rpID: RP_ID,
    allowCredentials: [{ id: credential.id }],
    userVerification: 'required',
  });
  const foreign = fidosim(
    'get',
    ['--origin', EVIL_ORIGIN, '--break', 'foreign-rp-id', '--state', state],
    authOptions,
  );
  let rejection = null;
  try {
    const result = await verifyAuthenticationResponse({
      response: foreign,
      expectedChallenge: authOptions.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      credential,
      requireUserVerification: true,
    });
    if (!result.verified) rejection = 'verified: false';
  } catch (e) {
    rejection = e.message;
  }
  check(rejection !== null, `${label}: a response for ${EVIL_ORIGIN} was accepted`);
  pass(`${label}: response for ${EVIL_ORIGIN} rejected (${rejection})`);
}

// Client extensions: what fidosim webauthn reports in clientExtensionResults,
// and what @simplewebauthn/server reads from the authenticator data.
async function extensionsCeremony(dir) {
  const label = 'extensions';
  const where = ['--origin', ORIGIN, '--state', join(dir, 'extensions.redb')];
  const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
  const blob = b64u(Buffer.from('a credBlob of 32 bytes, exactly.'));
  const regOptions = await generateRegistrationOptions({
    rpName: 'Shop',
    rpID: RP_ID,
    userName: 'erin',
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    extensions: {
      credProps: true,
      credBlob: blob,
      credentialProtectionPolicy: 'userVerificationRequired',
      enforceCredentialProtectionPolicy: true,
      largeBlob: { support: 'required' },
      prf: {},
    },
  });
  const reg = fidosim('create', where, regOptions);
  const verified = await verifyRegistrationResponse({
    response: reg,
    expectedChallenge: regOptions.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    requireUserVerification: true,
  });
  check(verified.verified, `${label}: verifyRegistrationResponse returned verified: false`);
  const results = reg.clientExtensionResults;
  const expected = { credProps: { rk: true }, credBlob: true, largeBlob: { supported: true }, prf: { enabled: true } };
  check(
    isDeepStrictEqual(results, expected),
    `${label}: clientExtensionResults ${JSON.stringify(results)}, expected ${JSON.stringify(expected)}`,
  );
  const authExt = verified.registrationInfo.authenticatorExtensionResults ?? {};
  check(authExt.credProtect === 3, `${label}: authenticator credProtect ${authExt.credProtect}, expected 3`);
  pass(`${label}: registration verified with credBlob, credProtect, largeBlob and prf (authenticator outputs ${JSON.stringify(authExt)})`);

  const credential = { ...verified.registrationInfo.credential };
  const get = async (extensions) => {
    const authOptions = await generateAuthenticationOptions({
      rpID: RP_ID,
      allowCredentials: [{ id: credential.id }],
      userVerification: 'required',
    });
    const auth = fidosim('get', where, { ...authOptions, extensions });
    const result = await verifyAuthenticationResponse({
      response: auth,
      expectedChallenge: authOptions.challenge,
      expectedOrigin: ORIGIN,
      expectedRPID: RP_ID,
      credential,
      requireUserVerification: true,
    });
    check(result.verified, `${label}: verifyAuthenticationResponse returned verified: false`);
    credential.counter = result.authenticationInfo.newCounter;
    return auth.clientExtensionResults;
  };
  const first = await get({ getCredBlob: true, prf: { eval: { first: b64u(Buffer.from('salt')) } } });
  check(first.getCredBlob === blob, `${label}: getCredBlob ${first.getCredBlob}, expected ${blob}`);
  const prf = first.prf?.results?.first;
  check(prf && Buffer.from(prf, 'base64url').length === 32, `${label}: prf results ${JSON.stringify(first.prf)}`);
  const data = b64u(Buffer.from('large blob '.repeat(40)));
  const written = await get({ largeBlob: { write: data } });
  check(written.largeBlob?.written === true, `${label}: largeBlob write ${JSON.stringify(written)}`);
  const read = await get({ largeBlob: { read: true } });
  check(read.largeBlob?.blob === data, `${label}: largeBlob read ${JSON.stringify(read)}`);
  pass(`${label}: sign-ins verified with getCredBlob, prf and a large blob written and read back`);
}

const BIN = fidosimBin();
if (!existsSync(BIN)) {
  console.error(`fidosim binary not found at ${BIN} (build it with cargo build -p fidosim, or set FIDOSIM_BIN)`);
  process.exit(1);
}
const nodeMajor = Number(process.versions.node.split('.')[0]);
if (nodeMajor < 20) {
  console.error(`Node.js ${process.versions.node} is too old: @simplewebauthn/server needs Node.js 20 or newer`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'fidosim-simplewebauthn-'));
try {
  for (const alg of ALGS) {
    for (const residentKey of RESIDENT_KEY) {
      for (const attestation of ATTESTATION) {
        try {
          await ceremony(dir, alg, residentKey, attestation);
        } catch (e) {
          failed += 1;
          const what = e instanceof CheckFailed ? e.message : `${alg.name} residentKey=${residentKey} attestation=${attestation.type}: ${e.stack ?? e}`;
          console.log(`FAIL - ${what}`);
        }
      }
    }
  }
  try {
    await extensionsCeremony(dir);
  } catch (e) {
    failed += 1;
    console.log(`FAIL - ${e instanceof CheckFailed ? e.message : `extensions: ${e.stack ?? e}`}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`simplewebauthn: ${passed} passed, ${failed} failed`);
if (failed > 0) process.exit(1);
