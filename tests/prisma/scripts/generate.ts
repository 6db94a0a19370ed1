// Generates the Prisma 7 clients from the project's prisma/ schemas (npm test runs it first).
import { generateClients } from "../lib/client.ts";
generateClients();
