import type { NextFunction, Request, Response } from 'express';
import { readForm, type BodyLimits } from './http.js';
import { toOAuthError } from './oauth-errors.js';

/**
 * Form bodies of the browser pages (sign-out, passkey rename and removal). A repeated field is
 * refused, like on the protocol endpoints. Failures answer a short plain-text 4xx: these posts
 * come from our own forms, so only a tampered request ever sees one.
 */
export function browserFormBody(limits: BodyLimits) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'POST') return next();
    readForm(req, limits)
      .then((form) => {
        if (form.multi.size > 0) {
          res.status(400).type('text/plain').send('a form field was repeated');
          return;
        }
        req.body = Object.fromEntries(form.values);
        next();
      })
      .catch((err: unknown) => {
        const error = toOAuthError(err);
        if (res.headersSent) return;
        for (const [name, value] of Object.entries(error.headers())) res.setHeader(name, value);
        res.status(error.status).type('text/plain').send(error.description);
      });
  };
}
