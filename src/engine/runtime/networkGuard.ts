// Proof that Linea needs no network: with LINEA_NETWORK_GUARD=1, every network entry point of Node
// (net, http, https, dns, fetch) throws when Linea's own code calls it. The extension host is shared
// with VS Code and other extensions, so in the host only calls whose stack passes through Linea's
// files are refused; the inference worker is Linea's alone and refuses all.
// The real module objects (not an ES namespace copy), so patching them reaches every caller.
/* eslint-disable @typescript-eslint/no-require-imports */
import dns = require('node:dns');
import http = require('node:http');
import https = require('node:https');
import net = require('node:net');
/* eslint-enable @typescript-eslint/no-require-imports */

export class NetworkBlockedError extends Error {
  constructor(what: string) {
    super(`network access blocked by Linea's offline guard: ${what}`);
    this.name = 'NetworkBlockedError';
  }
}

export interface GuardReport {
  blocked: string[];
}

export function installNetworkGuard(
  ownFiles: string | null,
  onBlock: (what: string) => void = () => {},
): GuardReport {
  const report: GuardReport = { blocked: [] };
  const ours = () => ownFiles === null || (new Error().stack ?? '').includes(ownFiles);
  const wrap = <T extends object>(obj: T, key: string, what: string) => {
    const target = obj as Record<string, unknown>;
    const orig = target[key];
    if (typeof orig !== 'function') return;
    target[key] = function (this: unknown, ...args: unknown[]) {
      if (ours()) {
        report.blocked.push(what);
        onBlock(what);
        throw new NetworkBlockedError(what);
      }
      return (orig as (...a: unknown[]) => unknown).apply(this, args);
    };
  };
  for (const k of ['connect', 'createConnection', 'createServer']) wrap(net, k, `net.${k}`);
  wrap(net.Socket.prototype, 'connect', 'net.Socket.connect');
  for (const k of ['request', 'get', 'createServer']) {
    wrap(http, k, `http.${k}`);
    wrap(https, k, `https.${k}`);
  }
  for (const k of ['lookup', 'resolve', 'resolve4', 'resolve6', 'resolveAny'])
    wrap(dns, k, `dns.${k}`);
  wrap(dns.promises, 'lookup', 'dns.promises.lookup');
  wrap(globalThis, 'fetch', 'fetch');
  return report;
}
