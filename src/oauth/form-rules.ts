import type { FormParams } from '../common/http.js';
import { InvalidRequest } from '../common/oauth-errors.js';

/** RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once." */
export function rejectRepeated(
  form: FormParams,
  repeatable: ReadonlySet<string> = new Set(),
): void {
  for (const name of form.multi.keys()) {
    if (!repeatable.has(name)) throw new InvalidRequest(`parameter ${name} must not be repeated`);
  }
}

export function requireParam(form: FormParams, name: string): string {
  const value = form.values.get(name);
  if (value === undefined || value.length === 0) throw new InvalidRequest(`${name} is required`);
  return value;
}
