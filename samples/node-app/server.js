// A small HTTP service on Debian's Node.js. Its libuv takes an io_uring whenever the kernel
// lets it, which CRIU cannot dump: the generic flavor keeps io_uring away at checkpoint time.
// `boot` is drawn at start-up and `hits` counts answers: a restored process carries on both.
"use strict";
const crypto = require("crypto");
const http = require("http");

const boot = crypto.randomBytes(8).toString("hex");
let hits = 0;

http.createServer((request, response) => {
  hits += 1;
  response.writeHead(200, { "Content-Type": "application/json" });
  response.end(JSON.stringify({ app: "node", boot, hits }) + "\n");
}).listen(8080, "0.0.0.0", () => console.log(`node-app: boot ${boot}, listening on 8080`));
