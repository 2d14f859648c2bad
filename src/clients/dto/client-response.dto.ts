import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class ClientResponseDto {
  @ApiProperty() client_id: string;
  @ApiProperty() client_name: string;
  @ApiProperty({ enum: ['confidential', 'public'] }) client_type: 'confidential' | 'public';
  @ApiProperty() token_endpoint_auth_method: string;
  @ApiProperty({ type: [String] }) grant_types: string[];
  @ApiProperty({ type: [String] }) response_types: string[];
  @ApiProperty({ type: [String] }) redirect_uris: string[];
  @ApiProperty({ type: [String] }) post_logout_redirect_uris: string[];
  @ApiProperty({ type: [String] }) allowed_scopes: string[];
  @ApiProperty({ type: [String] }) service_account_roles: string[];
  @ApiProperty({ nullable: true, type: String }) owner_user_id: string | null;
  @ApiProperty() may_impersonate: boolean;
  @ApiProperty({ type: [String] }) contacts: string[];
  @ApiProperty({ nullable: true, type: String }) logo_uri: string | null;
  @ApiProperty({ nullable: true, type: String }) policy_uri: string | null;
  @ApiProperty({ nullable: true, type: String }) tos_uri: string | null;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
  @ApiProperty({ nullable: true, type: String }) last_used_at: string | null;
}

/** Returned once, on creation of a confidential client: the only time the secret is shown. */
export class CreatedClientResponseDto extends ClientResponseDto {
  @ApiPropertyOptional({ description: 'Shown once. Store it now.' })
  client_secret?: string;
}

export class ClientSecretResponseDto {
  @ApiProperty() client_id: string;
  @ApiProperty({ description: 'Shown once. The previous secret stops working at once.' })
  client_secret: string;
}

export class ClientListResponseDto {
  @ApiProperty({ type: [ClientResponseDto] }) data: ClientResponseDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}
