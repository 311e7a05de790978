/**
 * The one exhaustiveness check for `switch` statements over a union: TypeScript proves the call
 * unreachable; at run time it throws "Cannot <what>: unknown <value>".
 * @module
 */
export function assertNever(value: never, what: string): never {
  throw new Error(`Cannot ${what}: unknown ${JSON.stringify(value)}`);
}
