// One Socket.IO 4 server for test_socketio_affinity.py: `node server.js ID` listens on an ephemeral
// port of 127.0.0.1 and prints "socketio ID listening on 127.0.0.1:PORT". Every client event `echo`
// is acked with {server: ID, data}. Each engine.io connection error (a request for a session this
// server does not know: "Session ID unknown", and the like) prints one "connection_error CODE
// MESSAGE" line, which the test counts. SIGTERM ends it.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const id = process.argv[2] || "sio";
const httpServer = http.createServer();
const io = new Server(httpServer, { cors: { origin: true, credentials: true } });

io.on("connection", (socket) => {
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack({ server: id, data });
  });
});

io.engine.on("connection_error", (err) => {
  process.stdout.write(`connection_error ${err.code} ${err.message}\n`);
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(`socketio ${id} listening on 127.0.0.1:${httpServer.address().port}\n`);
});

process.on("SIGTERM", () => process.exit(0));
