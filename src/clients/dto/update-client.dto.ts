import { OmitType, PartialType } from '@nestjs/swagger';
import { CreateClientDto } from './create-client.dto.js';

/** Every field but the client type may change; the type is fixed at creation. */
export class UpdateClientDto extends PartialType(
  OmitType(CreateClientDto, ['client_type'] as const),
) {}
