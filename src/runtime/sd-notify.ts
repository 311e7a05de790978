/**
 * systemd's notify protocol (sd_notify(3)) for `Type=notify` and `WatchdogSec=`: one datagram
 * per message to the AF_UNIX socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the
 * abstract namespace).
 *
 * Why bun:ffi: Bun has no unix *datagram* socket (node:dgram has no unix_dgram, Bun.udpSocket is
 * UDP only), the npm packages that do it are native addons that `bun build --compile` cannot
 * embed, and spawning `systemd-notify` sends from another PID, which systemd drops under the
 * default `NotifyAccess=main` (and it would fork on every watchdog ping). Three libc calls
 * (socket, sendto, close) through bun:ffi do it in-process. Where libc cannot be opened (not
 * glibc) notifications are off, with one warning line.
 *
 * The protocol's variables are read from the process environment here: they are systemd's
 * handshake, not configuration (src/config.ts reads the configuration).
 * @module
 */
import { dlopen, FFIType } from "bun:ffi";

import type { Logger } from "../log.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

/** How long READY=1 waits for the component to authenticate before it is sent anyway. */
export const READY_WAIT_MS = 30_000;

export interface Notifier {
  /** False when $NOTIFY_SOCKET is unset (not started by systemd) or unusable. */
  readonly enabled: boolean;
  /** Sends one message such as "READY=1\nSTATUS=…"; false when it could not be sent. */
  notify(message: string): boolean;
  close(): void;
}

type Libc = {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrlen: number): number | bigint;
  close(fd: number): number;
};

let libc: Libc | null | undefined;

function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const lib = dlopen("libc.so.6", {
      socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64_fast },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
    });
    libc = lib.symbols as unknown as Libc;
  } catch {
    libc = null;
  }
  return libc;
}

/** `struct sockaddr_un` for the socket name, and its length; null when the name cannot be one. */
export function sockaddrUn(name: string): { addr: Uint8Array; len: number } | null {
  if (name === "" || (name[0] !== "/" && name[0] !== "@")) return null;
  const path = new TextEncoder().encode(name);
  if (name[0] === "@") path[0] = 0; // abstract namespace: a leading NUL, no terminator
  const withNul = name[0] === "/" ? 1 : 0;
  if (path.length + withNul > SUN_PATH_MAX) return null;
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  addr[0] = AF_UNIX & 0xff; // sa_family_t, little endian on every Linux Bun runs on
  addr[1] = AF_UNIX >> 8;
  addr.set(path, 2);
  return { addr, len: 2 + path.length + withNul };
}

export function createNotifier(log: Logger, env: Record<string, string | undefined> = process.env): Notifier {
  const off: Notifier = { enabled: false, notify: () => false, close() {} };
  const name = env.NOTIFY_SOCKET;
  if (name === undefined || name === "") return off;
  const target = sockaddrUn(name);
  if (target === null) {
    log.warn("Cannot notify systemd: NOTIFY_SOCKET is not a unix socket path or @name", { socket: name.slice(0, 120) });
    return off;
  }
  const c = openLibc();
  if (c === null) {
    log.warn("Cannot notify systemd: libc.so.6 cannot be opened (sd_notify needs glibc)");
    return off;
  }
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    log.warn("Cannot notify systemd: socket(AF_UNIX, SOCK_DGRAM) failed");
    return off;
  }
  let open = true;
  let warned = false;
  return {
    enabled: true,
    notify(message) {
      if (!open) return false;
      const buf = new TextEncoder().encode(message);
      const sent = Number(c.sendto(fd, buf, buf.length, MSG_NOSIGNAL, target.addr, target.len));
      if (sent === buf.length) return true;
      if (!warned) {
        warned = true; // once: a watchdog ping every few seconds must not flood the log
        log.warn("Cannot notify systemd: sendto failed", { socket: name.slice(0, 120), message: message.split("\n")[0] ?? "" });
      }
      return false;
    },
    close() {
      if (open) c.close(fd);
      open = false;
    },
  };
}

/** The watchdog interval in ms (half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises), or null. */
export function watchdogIntervalMs(env: Record<string, string | undefined>, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== "" && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

export interface SystemdLink {
  /** The component authenticated: READY=1 (once). */
  online(detail: string): void;
  /** Shutdown began: STOPPING=1. */
  stopping(): void;
  close(): void;
}

export interface SystemdOptions {
  log: Logger;
  env?: Record<string, string | undefined>;
  /** Runs `done` once the event loop has handled everything queued before (runtime.barrier). */
  keepalive: (done: () => void) => void;
  /** Why the component is not online yet, for the STATUS of a READY=1 sent after the wait. */
  pending: () => string;
  readyWaitMs?: number;
}

/**
 * Wires the daemon to systemd. Call it once the store is open: READY=1 follows when the
 * component has authenticated, or after `readyWaitMs` at the latest (then STATUS says why it is
 * not online, and the daemon keeps trying; /readyz stays 503 meanwhile). With WATCHDOG_USEC set,
 * WATCHDOG=1 goes out every half period, but only after a pass through the event queue, so a
 * wedged queue stops the pings and systemd restarts the daemon.
 */
export function startSystemd(opts: SystemdOptions): SystemdLink {
  const env = opts.env ?? process.env;
  const n = createNotifier(opts.log, env);
  if (!n.enabled) return { online() {}, stopping() {}, close() {} };
  let ready = false;
  const sendReady = (status: string) => {
    if (ready) return;
    ready = true;
    clearTimeout(wait);
    n.notify(`READY=1\nSTATUS=${status}`);
  };
  const wait = setTimeout(
    () =>
      sendReady(`component not online after ${Math.round((opts.readyWaitMs ?? READY_WAIT_MS) / 1000)} s (${opts.pending()}); still trying`),
    opts.readyWaitMs ?? READY_WAIT_MS,
  );
  const period = watchdogIntervalMs(env, process.pid);
  let inFlight = false;
  const dog =
    period === null
      ? null
      : setInterval(() => {
          if (inFlight) return; // the previous pass has not come back: no ping
          inFlight = true;
          opts.keepalive(() => {
            inFlight = false;
            n.notify("WATCHDOG=1");
          });
        }, period);
  return {
    online(detail) {
      if (ready) n.notify(`STATUS=${detail}`);
      else sendReady(detail);
    },
    stopping() {
      clearTimeout(wait);
      n.notify("STOPPING=1\nSTATUS=shutting down");
    },
    close() {
      clearTimeout(wait);
      if (dog !== null) clearInterval(dog);
      n.close();
    },
  };
}
