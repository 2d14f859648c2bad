import { OmitType, PartialType } from '@nestjs/swagger';
import { CreateTrustedIssuerDto } from './create-trusted-issuer.dto.js';

/**
 * Everything but the issuer may change (links are keyed by it). Setting jwks_uri clears jwks
 * and the other way round.
 */
export class UpdateTrustedIssuerDto extends PartialType(
  OmitType(CreateTrustedIssuerDto, ['issuer'] as const),
) {}
