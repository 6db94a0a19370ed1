// Prisma Client 7 as an app runs it: generated from the project's prisma/ schemas, with the
// PostgreSQL, better-sqlite3 or MariaDB (also for MySQL) driver adapter, wrapped by
// @auth/prisma-adapter.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PrismaAdapter } from "@auth/prisma-adapter";
import { here } from "./env.ts";
import { projectSchema } from "./prisma6.ts";
import type { Provider } from "./db.ts";

const generated = (provider: Provider) => path.join(here, "generated", provider);

/**
 * Generates the client for every provider. The project's schemas are in Prisma 6 form; Prisma 7
 * wants no `url` in the datasource and the "prisma-client" generator with an output folder.
 */
export function generateClients(): void {
  for (const provider of ["pg", "sqlite", "mysql"] as const) {
    const dir = generated(provider);
    mkdirSync(dir, { recursive: true });
    const schema = readFileSync(projectSchema(provider), "utf8")
      .replace(/^\s*url\s*=\s*env\("DATABASE_URL"\)\s*\n/m, "")
      .replace(/provider\s*=\s*"prisma-client-js"/, 'provider = "prisma-client"\n  output   = "./client"');
    if (schema.includes("prisma-client-js") || /url\s*=\s*env/.test(schema)) {
      throw new Error(`cannot turn ${projectSchema(provider)} into a Prisma 7 schema`);
    }
    writeFileSync(path.join(dir, "schema.prisma"), schema);
    writeFileSync(
      path.join(dir, "prisma.config.ts"),
      'import { defineConfig } from "prisma/config";\n' +
        'export default defineConfig({ schema: "schema.prisma", datasource: { url: process.env.DATABASE_URL ?? "" } });\n',
    );
    execFileSync(path.join(here, "node_modules/.bin/prisma"), ["generate"], {
      cwd: dir,
      stdio: ["ignore", "ignore", "inherit"],
      // /bin/false: generate needs no schema engine; anything that asks for one fails at once.
      env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: "/bin/false", CHECKPOINT_DISABLE: "1" },
    });
  }
}

export type TimestampFormat = "iso8601" | "unixepoch-ms";

export interface PrismaApp {
  prisma: any;
  auth: ReturnType<typeof PrismaAdapter>;
  close(): Promise<void>;
}

/** A Prisma Client 7 plus @auth/prisma-adapter on `url`, as a Next.js app configures them. */
export async function prismaApp(
  provider: Provider,
  url: string,
  options: { timestampFormat?: TimestampFormat; schema?: string } = {},
): Promise<PrismaApp> {
  const { PrismaClient } = await import(path.join(generated(provider), "client/client.ts"));
  const adapter =
    provider === "pg"
      ? new (await import("@prisma/adapter-pg")).PrismaPg(
          { connectionString: url },
          options.schema ? { schema: options.schema } : undefined,
        )
      : provider === "mysql"
        ? // The app's own DATABASE_URL, as Prisma's docs configure it; the adapter takes mysql://.
          new (await import("@prisma/adapter-mariadb")).PrismaMariaDb(url)
        : new (await import("@prisma/adapter-better-sqlite3")).PrismaBetterSqlite3(
            { url },
            { timestampFormat: options.timestampFormat ?? "iso8601" },
          );
  const prisma = new PrismaClient({ adapter });
  return { prisma, auth: PrismaAdapter(prisma), close: () => prisma.$disconnect() };
}
