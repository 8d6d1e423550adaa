// A small client for fidosim's control API (docs/control-api.md), for
// browser tests in Node.js: reset the key, change it while it runs, and
// follow its events to assert what the key itself saw.
//
//   const key = new Fidosim();            // $FIDOSIM_CONTROL_SOCKET or the default socket
//   const key = new Fidosim({ control: '127.0.0.1:8112' }); // loopback TCP (--control-listen);
//     // the token is read from tokenFile, $FIDOSIM_CONTROL_TOKEN_FILE or control.token
//     // beside the default socket
//   await key.request('POST', '/reset');  // paths below /v1/devices/NAME
//   await key.setAccountChoice('platform'); // the browser shows its account chooser
//   const events = key.follow();          // from now on
//   const created = await events.next('credential.created');
//   events.close();
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

/** The socket `fidosim run` serves by default (see `fidosim run --help`). */
export function defaultSocket() {
  if (process.env.FIDOSIM_CONTROL_SOCKET) return process.env.FIDOSIM_CONTROL_SOCKET;
  const dir = process.env.XDG_RUNTIME_DIR
    ? path.join(process.env.XDG_RUNTIME_DIR, 'fidosim')
    : path.join(os.tmpdir(), `fidosim-${process.getuid()}`);
  return path.join(dir, 'control.sock');
}

/**
 * Where the TCP control token is: $FIDOSIM_CONTROL_TOKEN_FILE, else the file
 * `fidosim run` writes beside its default socket (control.token).
 */
export function defaultTokenFile() {
  if (process.env.FIDOSIM_CONTROL_TOKEN_FILE) return process.env.FIDOSIM_CONTROL_TOKEN_FILE;
  const sock = defaultSocket();
  return path.join(path.dirname(sock), `${path.basename(sock, path.extname(sock))}.token`);
}

/** Credential IDs: the control API speaks standard base64, pages base64url. */
export const toBase64url = (b64) => b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

export class Fidosim {
  /**
   * The Unix socket (`socket`) needs no token. With `control: 'HOST:PORT'`
   * requests go over TCP with the daemon's bearer token, read from
   * `tokenFile` (defaultTokenFile()).
   */
  constructor({ socket = defaultSocket(), device = 'default', control, tokenFile } = {}) {
    this.socket = socket;
    this.device = device;
    this.headers = {};
    this.target = { socketPath: socket };
    if (control) {
      const file = tokenFile ?? defaultTokenFile();
      let token;
      try {
        token = fs.readFileSync(file, 'utf8').trim();
      } catch (e) {
        throw new Error(
          `fidosim control token ${file}: ${e.message} (the daemon started with --control-listen ` +
            'writes it beside its socket; pass tokenFile, or set FIDOSIM_CONTROL_TOKEN_FILE)',
        );
      }
      const url = new URL(`http://${control}`);
      // The Host header is HOST:PORT, as the daemon requires.
      this.target = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
      this.headers.authorization = `Bearer ${token}`;
    }
    this.where = control ? `fidosim control ${control}` : `fidosim control socket ${socket}`;
  }

  /** One control request; `path` is below /v1/devices/NAME. Resolves to the JSON answer. */
  request(method, path, body) {
    return this.#call(method, `/v1/devices/${encodeURIComponent(this.device)}${path}`, body);
  }

  /**
   * How the key picks among several passkeys of one site: 'newest' (the
   * default: no account chooser), 'platform' (all of them go to the browser,
   * which shows its chooser), 'refuse', or 'user:HANDLE' / 'credential:ID'
   * rules (base64), comma-separated, optionally ending in one of the first
   * three. Resolves to the answer of PUT /presence, whose `accountChoice` is
   * the policy now in force.
   */
  setAccountChoice(policy) {
    return this.request('PUT', '/presence', { accountChoice: policy });
  }

  #call(method, path, body) {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          ...this.target,
          method,
          path,
          headers: data ? { ...this.headers, 'content-type': 'application/json' } : { ...this.headers },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            const json = text ? JSON.parse(text) : null;
            if (res.statusCode >= 300) {
              reject(new Error(`fidosim ${method} ${path}: ${res.statusCode} ${json?.error ?? text}`));
            } else {
              resolve(json);
            }
          });
        },
      );
      req.on('error', (e) =>
        reject(new Error(`${this.where}: ${e.message} (is \`fidosim run\` running?)`)),
      );
      req.end(data);
    });
  }

  /**
   * Follows this key's events from now on. `next(type, pred)` resolves with
   * the first event of that type (and matching `pred`) not yet taken, waiting
   * up to `timeout` ms; `all` holds every event seen.
   */
  follow() {
    const all = [];
    const taken = new Set();
    let waiters = [];
    let failed = null;
    const wake = () => {
      waiters = waiters.filter((w) => !w());
    };
    const req = http.get(
      {
        ...this.target,
        headers: { ...this.headers },
        path: `/v1/events?device=${encodeURIComponent(this.device)}`,
      },
      (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          buf += chunk;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) all.push(JSON.parse(line));
          }
          wake();
        });
      },
    );
    req.on('error', (e) => {
      failed = e;
      wake();
    });
    const ready = new Promise((resolve) => req.on('response', resolve));
    return {
      all,
      ready,
      next(type, pred = () => true, timeout = 120_000) {
        return new Promise((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no ${type} event from fidosim within ${timeout} ms; saw: ${all.map((e) => e.type).join(', ') || 'nothing'}`)),
            timeout,
          );
          const check = () => {
            if (failed) {
              clearTimeout(timer);
              reject(new Error(`fidosim events: ${failed.message}`));
              return true;
            }
            const i = all.findIndex((e, n) => !taken.has(n) && e.type === type && pred(e));
            if (i < 0) return false;
            taken.add(i);
            clearTimeout(timer);
            resolve(all[i]);
            return true;
          };
          if (!check()) waiters.push(check);
        });
      },
      close() {
        req.destroy();
      },
    };
  }
}
