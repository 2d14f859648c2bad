import {
  All,
  Controller,
  Module,
  Req,
  Res,
  UseGuards,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { NextFunction, Request, Response } from 'express';
import { Principal, RequirePermissions } from '../../src/auth-guards/auth-guards.decorators.js';
import { AuthGuardsModule } from '../../src/auth-guards/auth-guards.module.js';
import { BearerTokenGuard } from '../../src/auth-guards/bearer-token.guard.js';
import { protectedResourceMetadataUrl } from '../../src/auth-guards/protected-resource-metadata.js';
import type { AccessTokenClaims } from '../../src/tokens/access-tokens.service.js';
import { freePort } from './test-app.js';

/** The permission (scope) the MCP endpoint requires. */
export const MCP_SCOPE = 'mcp:tools';

export interface McpResourceServerOptions {
  /** Latchkey's issuer, byte for byte. */
  issuer: string;
  /**
   * `scopes_supported` of the RFC 9728 document. The MCP SDK requests exactly these (SEP-835),
   * so `offline_access` must be among them for the client to get a refresh token.
   */
  scopesSupported?: string[];
}

export interface McpResourceServer {
  /** The MCP endpoint, which is also the resource identifier (RFC 8707 audience). */
  url: string;
  /** The RFC 9728 document for `url` (§3.1 path-aware), as named in WWW-Authenticate. */
  metadataUrl: string;
  /** Tool calls served, with the verified token's subject. */
  calls: { tool: string; sub: string }[];
  /** Requests refused with 401 or 403 (no token counts too). */
  rejected: number;
  close(): Promise<void>;
}

/** Served tool calls, shared by the controller and the test through Nest DI. */
class McpState {
  readonly calls: { tool: string; sub: string }[] = [];
  rejected = 0;
}

@Controller()
@UseGuards(BearerTokenGuard)
@RequirePermissions(MCP_SCOPE)
class McpController {
  constructor(private readonly state: McpState) {}

  /** Stateless Streamable HTTP: a fresh server and transport per request, JSON responses. */
  @All('mcp')
  async mcp(
    @Req() req: Request,
    @Res() res: Response,
    @Principal() principal: AccessTokenClaims,
  ): Promise<void> {
    // No server-initiated stream without sessions: only POST is offered.
    if (req.method !== 'POST') {
      res.status(405).setHeader('allow', 'POST').end();
      return;
    }
    const server = new McpServer({ name: 'latchkey-test-mcp', version: '1.0.0' });
    server.registerTool(
      'whoami',
      { description: "The subject of the caller's access token" },
      (extra) => {
        const sub = String(extra.authInfo?.extra?.sub);
        this.state.calls.push({ tool: 'whoami', sub });
        return { content: [{ type: 'text', text: sub }] };
      },
    );
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    const auth: AuthInfo = {
      token: (req.headers.authorization ?? '').slice('Bearer '.length),
      clientId: principal.client_id,
      scopes: principal.scope?.split(' ') ?? [],
      expiresAt: principal.exp,
      extra: { sub: principal.sub },
    };
    await server.connect(transport);
    await transport.handleRequest(Object.assign(req, { auth }), res, req.body);
  }
}

/**
 * A small MCP server in its own Nest app, protected by Latchkey's exported guard
 * (`AuthGuardsModule.forResourceServer`): tokens are verified by Latchkey's JWKS with
 * `aud` = this server's resource URL and the `mcp:tools` permission. The module serves the
 * RFC 9728 document and answers 401/403 with `WWW-Authenticate: Bearer resource_metadata=…`.
 */
export async function startMcpResourceServer(
  options: McpResourceServerOptions,
): Promise<McpResourceServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const state = new McpState();

  @Module({
    imports: [
      AuthGuardsModule.forResourceServer({
        issuer: options.issuer,
        jwksUri: `${options.issuer}/.well-known/jwks.json`,
        audience: url,
        scopesSupported: options.scopesSupported ?? [MCP_SCOPE],
        resourceName: 'Latchkey test MCP server',
      }),
    ],
    controllers: [McpController],
    providers: [{ provide: McpState, useValue: state }],
  })
  class McpResourceServerModule {}

  const app: INestApplication = await NestFactory.create(McpResourceServerModule, {
    logger: false,
  });
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.on('finish', () => {
      if (res.statusCode === 401 || res.statusCode === 403) state.rejected++;
    });
    next();
  });
  await app.listen(port, '127.0.0.1');
  return {
    url,
    metadataUrl: protectedResourceMetadataUrl(url),
    calls: state.calls,
    get rejected() {
      return state.rejected;
    },
    close: () => app.close(),
  };
}
