// Exactly N getSessionAndUser calls, CONCURRENCY at a time over keep-alive, each token of FILE
// REPEAT times in a shuffled order: used to count database writes per call, not to time them.
//
//   node bench/calls.mjs URL TOKENS_FILE REPEAT CONCURRENCY
//
// Prints one JSON line: {"calls", "found", "nulls", "errors"}.
import http from "node:http";
import { readFileSync } from "node:fs";

const [url, file, repeat = "10", concurrency = "32"] = process.argv.slice(2);
const tokens = readFileSync(file, "utf8").split("\n").filter(Boolean);
const calls = [];
for (let r = 0; r < Number(repeat); r++) calls.push(...tokens);
for (let i = calls.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [calls[i], calls[j]] = [calls[j], calls[i]];
}

const target = new URL("/v1/adapter/getSessionAndUser", url);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const headers = { "content-type": "application/json" };
if (process.env.BENCH_API_KEY) headers.authorization = `Bearer ${process.env.BENCH_API_KEY}`;

function call(token) {
  return new Promise((resolve) => {
    const req = http.request(target, { method: "POST", agent, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve(res.statusCode !== 200 ? "error" : body === "null" ? "null" : "found"));
    });
    req.on("error", () => resolve("error"));
    req.end(JSON.stringify({ sessionToken: token }));
  });
}

const counts = { calls: calls.length, found: 0, nulls: 0, errors: 0 };
let next = 0;
async function worker() {
  while (next < calls.length) {
    const outcome = await call(calls[next++]);
    counts[outcome === "null" ? "nulls" : outcome === "found" ? "found" : "errors"]++;
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, worker));
agent.destroy();
console.log(JSON.stringify(counts));
