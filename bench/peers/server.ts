// What a team would run instead of authbridge: an Auth.js adapter behind a minimal node:http
// server that answers authbridge's getSessionAndUser request with the same response shape.
//
//   npm run build && node peers/dist/server.mjs pg|prisma      (DATABASE_URL, PORT, POOL_SIZE)
//
// The handler does what Auth.js core does around the adapter on every session read
// (@auth/core lib/actions/session.js): getSessionAndUser, deleteSession when expired, and
// updateSession when `expires - maxAge + updateAge <= now`.
import http from "node:http";
import pg from "pg";

const kind = process.argv[2];
const url = process.env.DATABASE_URL;
const port = Number(process.env.PORT ?? 7811);
const poolSize = Number(process.env.POOL_SIZE ?? 16);
// Auth.js defaults, as authbridge's.
const maxAge = Number(process.env.SESSION_MAX_AGE ?? 30 * 24 * 60 * 60);
const updateAge = Number(process.env.SESSION_UPDATE_AGE ?? 24 * 60 * 60);
if (!url) throw new Error("DATABASE_URL is required");

type Adapter = {
  getSessionAndUser(token: string): Promise<{ session: any; user: any } | null>;
  updateSession(session: { sessionToken: string; expires: Date }): Promise<unknown>;
  deleteSession(token: string): Promise<unknown>;
};

async function makeAdapter(): Promise<Adapter> {
  if (kind === "pg") {
    const { default: PostgresAdapter } = await import("@auth/pg-adapter");
    return PostgresAdapter(new pg.Pool({ connectionString: url, max: poolSize })) as unknown as Adapter;
  }
  if (kind === "prisma") {
    const { PrismaAdapter } = await import("@auth/prisma-adapter");
    const { PrismaPg } = await import("@prisma/adapter-pg");
    const { PrismaClient } = await import("./generated/prisma/client.ts");
    const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: poolSize }) });
    await prisma.$connect();
    return PrismaAdapter(prisma as any) as unknown as Adapter;
  }
  throw new Error(`unknown peer ${kind}: pg or prisma`);
}

const adapter = await makeAdapter();

async function getSessionAndUser(sessionToken: string) {
  let found = await adapter.getSessionAndUser(sessionToken);
  if (found && found.session.expires.valueOf() < Date.now()) {
    await adapter.deleteSession(sessionToken);
    found = null;
  }
  if (!found) return null;
  const { session, user } = found;
  if (session.expires.valueOf() - maxAge * 1000 + updateAge * 1000 <= Date.now()) {
    const expires = new Date(Date.now() + maxAge * 1000);
    await adapter.updateSession({ sessionToken, expires });
    session.expires = expires;
  }
  return {
    session: { id: session.id, sessionToken: session.sessionToken, userId: session.userId, expires: session.expires },
    user: { id: user.id, name: user.name, email: user.email, emailVerified: user.emailVerified, image: user.image },
  };
}

function reply(res: http.ServerResponse, status: number, body: string) {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") return reply(res, 200, '{"status":"ok"}');
  if (req.method !== "POST" || req.url !== "/v1/adapter/getSessionAndUser") return reply(res, 404, "null");
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    let token: unknown;
    try {
      token = JSON.parse(Buffer.concat(chunks).toString("utf8")).sessionToken;
    } catch {
      return reply(res, 400, '{"code":"invalid_argument"}');
    }
    if (typeof token !== "string" || token === "") return reply(res, 400, '{"code":"invalid_argument"}');
    getSessionAndUser(token).then(
      (result) => reply(res, 200, JSON.stringify(result)),
      (err) => {
        console.error(`${kind}: ${err?.name ?? "error"}`);
        reply(res, 500, '{"code":"internal"}');
      },
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => console.error(`${kind} peer listening on 127.0.0.1:${port}, pool ${poolSize}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
