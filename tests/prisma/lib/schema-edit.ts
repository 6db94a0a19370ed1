// Changes a team makes to its Prisma schema, applied to the text of the project's schema.
import { readFileSync } from "node:fs";
import type { Provider } from "./db.ts";
import { projectSchema } from "./prisma6.ts";

/** Applies regex replacements to the project's schema; each must change something. */
export function editedSchema(provider: Provider, edits: [RegExp, string][]): string {
  let text = readFileSync(projectSchema(provider), "utf8");
  for (const [pattern, replacement] of edits) {
    const next = text.replace(pattern, replacement);
    if (next === text) throw new Error(`schema edit ${pattern} matched nothing`);
    text = next;
  }
  return text;
}

/** Inserts field lines at the top of a model. */
export const addFields = (model: string, ...lines: string[]): [RegExp, string] => [
  new RegExp(`(model ${model} \\{\\n)`),
  `$1${lines.map((l) => `  ${l}\n`).join("")}`,
];
/** Removes a field line from the schema. */
export const removeField = (field: string, type: string): [RegExp, string] => [
  new RegExp(`^\\s*${field}\\s+${type.replace(/[[\]?]/g, "\\$&")}\\s*\\n`, "m"),
  "",
];
/** Changes the type of a field inside one model. */
export const retype = (model: string, field: string, from: string, to: string): [RegExp, string] => [
  new RegExp(`(model ${model} \\{[^}]*?\\n\\s*${field}\\s+)${from}\\b`),
  `$1${to}`,
];
/** Removes a whole model. */
export const removeModel = (model: string): [RegExp, string] => [new RegExp(`model ${model} \\{[^}]*\\}\\n?`), ""];
