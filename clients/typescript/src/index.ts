export * from "./client.js";
export * from "./errors.js";
export type { components, paths, operations } from "./schema.js";
