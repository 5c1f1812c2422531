// N Socket.IO 4 clients with the default transports (HTTP long-polling first, then the upgrade to
// WebSocket) through ringway: `node client.js URL CLIENTS EMITS`. Each client connects, waits for
// the upgrade, sends EMITS `echo` events with acks, and disconnects. Prints one JSON summary line.
//
// withCredentials: true turns on engine.io-client's cookie jar in Node (engine.io-client >= 6.5,
// globals.node.js): Set-Cookie from a polling answer is sent back on the next polling requests and
// on the WebSocket upgrade, as a browser would. reconnection: false so that a failure shows as a
// failure instead of being retried into success.
"use strict";

const { io } = require("socket.io-client");

const [url, clientsArg, emitsArg] = process.argv.slice(2);
const CLIENTS = Number(clientsArg || 100);
const EMITS = Number(emitsArg || 5);
const CONNECT_TIMEOUT_MS = 15000;
const UPGRADE_TIMEOUT_MS = 10000;
const ACK_TIMEOUT_MS = 10000;

function once(emitter, event, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

async function runClient(index) {
  const r = { index, connected: false, upgraded: false, acks: 0, servers: [], connectErrors: [],
              disconnects: [], error: null };
  const socket = io(url, { withCredentials: true, forceNew: true, reconnection: false,
                           timeout: CONNECT_TIMEOUT_MS, query: { client: String(index) } });
  socket.on("connect_error", (err) => {
    r.connectErrors.push(`${err.message}${err.description ? " " + JSON.stringify(String(err.description)) : ""}`);
  });
  socket.on("disconnect", (reason) => r.disconnects.push(reason));
  try {
    if (!socket.connected) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("connect timed out")), CONNECT_TIMEOUT_MS);
        socket.once("connect", () => { clearTimeout(timer); resolve(); });
        socket.once("connect_error", (err) => { clearTimeout(timer); reject(err); });
      });
    }
    r.connected = true;
    const engine = socket.io.engine;
    if (engine.transport.name !== "websocket") {
      await once(engine, "upgrade", UPGRADE_TIMEOUT_MS).catch((err) => { r.error = err.message; });
    }
    r.upgraded = engine.transport.name === "websocket";
    for (let i = 0; i < EMITS && socket.connected; i++) {
      const reply = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("echo", { client: index, n: i });
      if (reply && reply.data && reply.data.n === i) r.acks++;
      r.servers.push(reply.server);
    }
  } catch (err) {
    r.error = r.error || err.message;
  } finally {
    socket.disconnect();
  }
  return r;
}

(async () => {
  const results = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => runClient(i)));
  const ok = results.filter((r) => r.connected && r.upgraded && r.acks === EMITS &&
                                   new Set(r.servers).size === 1);
  const summary = {
    clients: CLIENTS,
    ok: ok.length,
    connected: results.filter((r) => r.connected).length,
    upgraded: results.filter((r) => r.upgraded).length,
    acks: results.reduce((n, r) => n + r.acks, 0),
    connect_errors: results.reduce((n, r) => n + r.connectErrors.length, 0),
    servers: [...new Set(results.flatMap((r) => r.servers))].sort(),
    failures: results.filter((r) => !ok.includes(r)).slice(0, 5),
  };
  process.stdout.write(JSON.stringify(summary) + "\n");
  process.exit(0);
})();
