import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';

/**
 * A network namespace joined to the root namespace by a veth pair with a /30 of its own: the
 * chaos suite's MariaDB and Redis run inside it, the services outside, so that the link between
 * them can be cut the way a real partition cuts it (packets dropped, nobody told).
 *
 * How it is cut: the namespace's end of the pair is set down. Its peer in the root namespace
 * loses carrier but stays up with its address and route, so what the services send is dropped
 * by the device without an error (no RST, no ICMP, no ENETUNREACH): an established connection's
 * writes go unanswered and a new connect() keeps resending its SYN. Neighbour entries are
 * permanent on both sides, so no failed ARP turns into EHOSTUNREACH during a long cut. Set up
 * again, the link carries the retransmissions and the pending connects complete.
 * Chosen because this is what the machines the suite runs on offer: no netem, no tc classifier
 * or action (matchall, u32), no iptables or nft. partition.chaos.ts checks the silence itself.
 */
export interface NetLink {
  /** The namespace's name, unique to the run. */
  ns: string;
  /** The veth end in the root namespace, and its address (what the servers see as the client). */
  hostDev: string;
  hostAddr: string;
  /** The veth end in the namespace, and its address (where the servers listen). */
  nsDev: string;
  nsAddr: string;
  /** The ends' hardware addresses, for the permanent neighbour entries. */
  hostMac?: string;
  nsMac?: string;
}

function ip(...args: string[]): string {
  const run = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (run.error) throw new Error(`ip ${args.join(' ')}: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`ip ${args.join(' ')} exited with ${run.status}: ${run.stderr.trim()}`);
  return run.stdout;
}

/** Why no namespace can be made here, or undefined when one can (root, with iproute2's `ip`). */
export function netnsUnavailable(): string | undefined {
  if (process.env['CHAOS_NETNS'] === '0') return 'CHAOS_NETNS=0 asked for the servers on 127.0.0.1';
  if (process.platform !== 'linux') return `network namespaces are Linux's (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add)';
  const probe = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'iproute2 (`ip`) is not on PATH (Debian: apt-get install iproute2)';
  return undefined;
}

/** IPv4 prefixes in use in the root namespace (addresses and routes), as [network, bits]. */
function prefixesInUse(): [number, number][] {
  const routes = JSON.parse(ip('-j', '-4', 'route', 'show', 'table', 'all')) as { dst: string }[];
  const addrs = JSON.parse(ip('-j', '-4', 'addr')) as { addr_info: { local: string; prefixlen: number }[] }[];
  const cidrs = [...routes.map((r) => r.dst), ...addrs.flatMap((a) => a.addr_info.map((i) => `${i.local}/${i.prefixlen}`))];
  return cidrs
    .filter((c) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(c))
    .map((c) => {
      const [addr, bits] = c.split('/') as [string, string | undefined];
      return [toNumber(addr), Number(bits ?? 32)];
    });
}

const toNumber = (addr: string) => addr.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
const toAddr = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
const overlaps = (a: number, bits: number, [b, bBits]: [number, number]) => {
  const common = Math.min(bits, bBits);
  const mask = common === 0 ? 0 : (~0 << (32 - common)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
};

/**
 * A /30 of 198.18.0.0/15 (RFC 2544's benchmarking range, which no real network routes) chosen
 * from the run's tag, skipping any that overlaps a prefix the machine already has.
 */
function freeSubnet(tag: string): number {
  const used = prefixesInUse();
  for (let i = 0; i < 64; i++) {
    const slot = createHash('sha256').update(`${tag}:${i}`).digest().readUInt16BE(0) & 0x7fff;
    const net = toNumber('198.18.0.0') + slot * 4;
    if (!used.some((p) => overlaps(net, 30, p))) return net;
  }
  throw new Error('no free /30 in 198.18.0.0/15');
}

/** Makes the namespace and its link; on failure removes what it made and throws why. */
export function createLink(): NetLink {
  const tag = `${process.pid.toString(16)}${randomBytes(3).toString('hex')}`.slice(-8);
  const net = freeSubnet(tag);
  const link: NetLink = { ns: `chaos-${tag}`, hostDev: `chh${tag}`, nsDev: `chn${tag}`, hostAddr: toAddr(net + 1), nsAddr: toAddr(net + 2) };
  try {
    ip('netns', 'add', link.ns);
    ip('-n', link.ns, 'link', 'set', 'lo', 'up');
    ip('link', 'add', link.hostDev, 'type', 'veth', 'peer', 'name', link.nsDev, 'netns', link.ns);
    ip('addr', 'add', `${link.hostAddr}/30`, 'dev', link.hostDev);
    ip('-n', link.ns, 'addr', 'add', `${link.nsAddr}/30`, 'dev', link.nsDev);
    ip('link', 'set', link.hostDev, 'up');
    ip('-n', link.ns, 'link', 'set', link.nsDev, 'up');
    const mac = (dev: string, ns?: string) => (JSON.parse(ip(...(ns ? ['-n', ns] : []), '-j', 'link', 'show', dev)) as { address: string }[])[0]?.address;
    Object.assign(link, { hostMac: mac(link.hostDev), nsMac: mac(link.nsDev, link.ns) });
    ip('neigh', 'replace', link.nsAddr, 'lladdr', link.nsMac as string, 'dev', link.hostDev, 'nud', 'permanent');
    setNsNeighbour(link);
  } catch (err) {
    deleteLink(link);
    throw err;
  }
  return link;
}

/** Removes the namespace (its veth end, and with it the peer). The servers must be stopped first. */
export function deleteLink(link: NetLink): void {
  spawnSync('ip', ['link', 'del', link.hostDev], { stdio: 'ignore' });
  spawnSync('ip', ['netns', 'del', link.ns], { stdio: 'ignore' });
}

/** The partition starts: every packet between the namespace and the root namespace is dropped. */
export function cutLink(link: NetLink): void {
  ip('-n', link.ns, 'link', 'set', link.nsDev, 'down');
}

/**
 * The partition heals: the link carries packets again (connections that survived resume by
 * retransmission). Setting a device down flushes its neighbours, permanent ones too, so the
 * namespace's entry is written again; the root end only lost carrier, which keeps them.
 */
export function healLink(link: NetLink): void {
  ip('-n', link.ns, 'link', 'set', link.nsDev, 'up');
  setNsNeighbour(link);
}

function setNsNeighbour(link: NetLink): void {
  ip('-n', link.ns, 'neigh', 'replace', link.hostAddr, 'lladdr', link.hostMac as string, 'dev', link.nsDev, 'nud', 'permanent');
}

/** `command args` to run inside the namespace (unchanged without one). */
export function inNamespace(link: NetLink | undefined, command: string, args: string[]): [string, string[]] {
  return link ? ['ip', ['netns', 'exec', link.ns, command, ...args]] : [command, args];
}
