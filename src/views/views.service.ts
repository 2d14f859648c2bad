import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { Response } from 'express';
import Handlebars from 'handlebars';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setPageCsp, type PagePolicy } from '../common/security-headers.js';

/** Top-level `views/`: the layout and one template per page, next to package.json. */
export const VIEWS_DIR = join(process.cwd(), 'views');

const PAGES = ['login', 'setup', 'account', 'error', 'consent', 'logout'] as const;
export type PageName = (typeof PAGES)[number];

/**
 * Renders the sign-in, setup and account pages from handlebars templates, compiled once at
 * start. Every page is `no-store`: they carry CSRF tokens and personal data.
 */
@Injectable()
export class ViewsService implements OnModuleInit {
  private readonly handlebars = Handlebars.create();
  private readonly pages = new Map<PageName, Handlebars.TemplateDelegate>();
  private layout: Handlebars.TemplateDelegate | undefined;

  async onModuleInit(): Promise<void> {
    const compile = async (name: string) =>
      this.handlebars.compile(await readFile(join(VIEWS_DIR, `${name}.hbs`), 'utf8'));
    this.layout = await compile('layout');
    for (const name of PAGES) this.pages.set(name, await compile(name));
  }

  /** The page's body, escaped by handlebars, inside the shared layout. */
  render(name: PageName, model: object): string {
    const page = this.pages.get(name);
    if (page === undefined || this.layout === undefined) {
      throw new Error(`page ${name} is not loaded`);
    }
    // The doctype is written here: the template formatter does not keep it.
    return '<!doctype html>\n' + this.layout({ ...model, body: page(model) });
  }

  /**
   * The page with the page CSP (`policy` names the other origins its forms and images need);
   * the other security headers are already set for every response.
   */
  send(res: Response, status: number, name: PageName, model: object, policy?: PagePolicy): void {
    const html = this.render(name, model);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    setPageCsp(res, policy);
    res.status(status).type('html').send(html);
  }

  /** 303 See Other after a form post (or a redirect from a page), with optional cookies. */
  redirect(res: Response, location: string, setCookie?: string): void {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    if (setCookie !== undefined) res.setHeader('Set-Cookie', setCookie);
    res.redirect(303, location);
  }

  errorPage(res: Response, status: number, title: string, message: string): void {
    this.send(res, status, 'error', { title, message, status });
  }
}
