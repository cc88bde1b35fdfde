// Reading a flat field list [name, value, name, value, ...] (names lowercase): the shape
// request heads, upstream response heads and stored cache heads all share.

/** The first value of the field `name`, or undefined. */
export function firstField(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Every value of the field `name` joined with ', ' (a list field, RFC 9110 §5.3), or undefined. */
export function joinedField(fields: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) out = out === undefined ? fields[i + 1]! : `${out}, ${fields[i + 1]!}`;
  return out;
}
