/** A hidden field of a rendered page's form, with the template's HTML escaping undone. */
export function formField(html: string, name: string): string {
  const match = new RegExp(`name='${name}' value='([^']*)'`).exec(html);
  if (!match) throw new Error(`no ${name} field on the page`);
  return match[1]
    .replace(/&amp;/g, '&')
    .replace(/&#x3D;/g, '=')
    .replace(/&#x27;/g, "'");
}

/** The consent page's hidden fields, to post back to /oauth/authorize/decision. */
export function consentForm(html: string): { request: string; csrf: string } {
  return { request: formField(html, 'request'), csrf: formField(html, 'csrf') };
}
