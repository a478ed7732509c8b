// src/schema.ts is what openapi-typescript generates from the served /openapi.json: a change of the API that
// was not regenerated (npm run generate) fails here.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { SCHEMA_FILE, fetchDocument, schemaSource } from "../scripts/generate.mjs";

const url = process.env.SHAP_URL;

test("the generated types match the served OpenAPI document", { skip: url ? false : "SHAP_URL is not set" }, async () => {
  const expected = await schemaSource(await fetchDocument(url));
  const committed = await readFile(SCHEMA_FILE, "utf8");
  assert.ok(committed === expected, "src/schema.ts differs from the served /openapi.json: run `make ts-types` at the "
    + "repository's root (or `SHAP_URL=<service> npm run generate` here) and commit src/schema.ts");
});
