import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { ViewsService } from '../../views/views.service.js';
import type { AuthorizeOutcome } from './authorize.service.js';

/** Writes an authorization outcome: a redirect, the consent page or the error page. */
@Injectable()
export class AuthorizePages {
  constructor(private readonly views: ViewsService) {}

  /** `redirectStatus`: 302 after GET, 303 after POST (RFC 9700 §4.12). */
  send(res: Response, outcome: AuthorizeOutcome, redirectStatus: 302 | 303): void {
    switch (outcome.kind) {
      case 'redirect':
        // The location carries the code: never cached, and no Referer on the way (RFC 9700 §4.2.4).
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('Pragma', 'no-cache');
        res.redirect(redirectStatus, outcome.location);
        return;
      case 'consent':
        this.views.send(
          res,
          200,
          'consent',
          { ...outcome.view, title: `Allow ${outcome.view.clientName}?` },
          { formTargets: [outcome.view.redirectUri], images: [outcome.view.logoUri] },
        );
        return;
      case 'error':
        this.views.errorPage(res, outcome.status, outcome.title, outcome.description);
        return;
    }
  }
}
