import { Column, Entity, PrimaryColumn } from 'typeorm';

export type UserStatus = 'active' | 'disabled';

@Entity({ name: 'users' })
export class UserEntity {
  /** Generated in code: the embedded database has no uuid-ossp for TypeORM to use. */
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  /** Always lower case (ck_users_email_lower); unique (ux_users_email). */
  @Column({ type: 'text' })
  email: string;

  @Column({ name: 'email_verified', type: 'boolean' })
  emailVerified: boolean;

  @Column({ name: 'display_name', type: 'text' })
  displayName: string;

  @Column({ type: 'text' })
  status: UserStatus;

  @Column({ type: 'text', array: true })
  roles: string[];

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
