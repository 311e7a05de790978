/**
 * A loopback TCP sink run as its own process (so it does not share the writer's event loop):
 * prints `PORT n`, counts the bytes of one connection and prints `BYTES n` when it closes.
 * Run: bun bench/lib/tcp-sink.ts
 * @module
 */
let bytes = 0;
const server = Bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    data(_socket, chunk) {
      bytes += chunk.length;
    },
    close() {
      console.log(`BYTES ${bytes}`);
      server.stop(true);
      process.exit(0);
    },
    error() {},
  },
});
console.log(`PORT ${server.port}`);
